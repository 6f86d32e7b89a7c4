"""Admin endpoints under ``/v1/admin``, all behind the admin bearer token (checked by a guard,
before the body is read)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.params import Body

from cloud.constants import ADMIN_PREFIX
from cloud.domain.admin.schemas import (
    CreateEnrollmentCode,
    CreateNotice,
    CreateUser,
    DeviceOut,
    EnrollmentCodeCreated,
    NoticeCreated,
    UserCreated,
    UserViewOut,
)
from cloud.domain.admin.services import AdminService
from cloud.services import services_of


def admin_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    services_of(connection).admin.check_token(connection.headers.get("authorization"))


def _path(request: Request[Any, Any, Any], name: str) -> str:
    # Read from the request rather than declared as a handler parameter: Litestar 2.23+ deprecates
    # the plain declaration and its replacement does not exist in the older 2.x this project allows.
    return str(request.path_params[name])


def _admin(request: Request[Any, Any, Any]) -> AdminService:
    return services_of(request).admin


class AdminController(Controller):
    path = ADMIN_PREFIX
    guards = [admin_guard]
    tags = ["admin"]

    @post("/users", status_code=201)
    async def create_user(
        self, data: Annotated[CreateUser, Body()], request: Request[Any, Any, Any]
    ) -> UserCreated:
        return await _admin(request).create_user(data.external_ref)

    @post("/users/{user_id:str}/enrollment-codes", status_code=201)
    async def create_code(
        self, data: Annotated[CreateEnrollmentCode, Body()], request: Request[Any, Any, Any]
    ) -> EnrollmentCodeCreated:
        return await _admin(request).create_enrollment_code(_path(request, "user_id"), data.ttl_s)

    @get("/devices")
    async def list_devices(self, request: Request[Any, Any, Any]) -> list[DeviceOut]:
        """``?user_id=`` filters by user; without it every device is listed."""
        return await _admin(request).list_devices(request.query_params.get("user_id"))

    @post("/devices/{device_id:str}/revoke", status_code=200)
    async def revoke_device(self, request: Request[Any, Any, Any]) -> DeviceOut:
        return await _admin(request).revoke_device(_path(request, "device_id"))

    @post("/users/{user_id:str}/notices", status_code=201)
    async def add_notice(
        self, data: Annotated[CreateNotice, Body()], request: Request[Any, Any, Any]
    ) -> NoticeCreated:
        return await _admin(request).add_notice(_path(request, "user_id"), data.kind, data.title, data.body)

    @get("/users/{user_id:str}/view")
    async def user_view(self, request: Request[Any, Any, Any]) -> UserViewOut:
        return await _admin(request).user_view(_path(request, "user_id"))
