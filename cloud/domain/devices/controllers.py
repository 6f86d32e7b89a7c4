"""``POST /v1/devices/enroll`` and ``POST /v1/devices/token``: parse, call the service, answer."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, post

from cloud.constants import ENROLL_PATH, TOKEN_PATH
from cloud.errors import InvalidBody
from cloud.ratelimit import Scope, client_address
from cloud.services import services_of
from cloud.wire import read_body, request_media, wire_response
from sync.codec import CodecError, decode_enroll, decode_refresh


class DeviceController(Controller):
    tags = ["devices"]

    @post(ENROLL_PATH, status_code=201, summary="Enroll a device with a one-time code")
    async def enroll(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        """Body ``EnrollRequest`` (msgpack or JSON); answers ``TokenPair`` in the same media type."""
        services = services_of(request)
        await services.limiter.check(Scope.ENROLL, client_address(request))
        media = request_media(request)
        try:
            body = decode_enroll(await read_body(request), media)
        except CodecError as exc:
            raise InvalidBody(str(exc)) from exc
        return wire_response(await services.devices.enroll(body), media, 201)

    @post(TOKEN_PATH, status_code=200, summary="Rotate the refresh token")
    async def token(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        """Body ``RefreshRequest``; answers a new ``TokenPair``."""
        services = services_of(request)
        await services.limiter.check(Scope.REFRESH, client_address(request))
        media = request_media(request)
        try:
            body = decode_refresh(await read_body(request), media)
        except CodecError as exc:
            raise InvalidBody(str(exc)) from exc
        return wire_response(await services.devices.refresh(body), media)
