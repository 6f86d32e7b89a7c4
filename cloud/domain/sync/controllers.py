"""``POST /v1/sync``: authenticate, read the body, hand it to :class:`SyncService`."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, post

from cloud.constants import SYNC_PATH
from cloud.deps import DEVICE_SECURITY
from cloud.ratelimit import Scope
from cloud.services import services_of
from cloud.wire import read_body, request_media, wire_response


class SyncController(Controller):
    tags = ["sync"]
    security = DEVICE_SECURITY

    @post(SYNC_PATH, status_code=200, summary="Push mutations and pull changes in one exchange")
    async def sync(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        """Body ``SyncRequest`` (msgpack or JSON) with a device bearer token; answers ``SyncReply``.

        The body is read raw: each pushed mutation is decoded on its own (spec §5.3), so the
        document's body and reply schemas are declared in :mod:`cloud.api_docs`."""
        services = services_of(request)
        claims = services.devices.authenticate(request.headers.get("authorization"))
        # After the token (a limit per device needs to know the device), before the body is read.
        await services.limiter.check(Scope.SYNC, claims.device_id)
        media = request_media(request)
        reply = await services.sync.exchange(claims, await read_body(request), media)
        return wire_response(reply, media)
