"""Reading sync/ wire bodies by ``Content-Type`` and answering in the same media type."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response

from cloud.errors import BodyTooLarge, UnsupportedMediaType
from sync.codec import MediaType, encode, media_type_of
from sync.limits import MAX_BODY_BYTES


def request_media(request: Request[Any, Any, Any]) -> MediaType:
    """The request's media type; ``UnsupportedMediaType`` unless msgpack or JSON."""
    media = media_type_of(request.headers.get("content-type"))
    if media is None:
        raise UnsupportedMediaType("send application/msgpack or application/json")
    return media


async def read_body(request: Request[Any, Any, Any]) -> bytes:
    """The whole body; Litestar stops reading past ``request_max_body_size`` (answered 413)."""
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise BodyTooLarge(f"at most {MAX_BODY_BYTES} bytes")
    return body


def wire_response(message: msgspec.Struct, media: MediaType, status_code: int = 200) -> Response[bytes]:
    return Response(encode(message, media), status_code=status_code, media_type=media.value)
