"""The floor for the sync benchmark: Litestar plus the body decode, and nothing else.

One ``POST /v1/sync`` route that reads the body, decodes it with the same codec the cloud uses and
answers 204. Whatever this serves per second is the most any sync endpoint on this framework,
process and codec could serve; the cloud's endpoint is reported as a fraction of it.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar, Request, post

from cloud.constants import SYNC_PATH
from sync.codec import decode_request, media_type_of


@post(SYNC_PATH, status_code=204)
async def decode_only(request: Request[Any, Any, Any]) -> None:
    media = media_type_of(request.headers.get("content-type"))
    if media is None:
        raise ValueError("benchmark bodies are always msgpack or JSON")
    decode_request(await request.body(), media)


def create_app() -> Litestar:
    """``uvicorn --factory bench.floor_app:create_app``."""
    return Litestar(route_handlers=[decode_only], openapi_config=None)
