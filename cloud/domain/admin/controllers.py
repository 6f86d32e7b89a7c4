"""Admin endpoints under ``/v1/admin``, all behind the admin bearer token (checked by a guard,
before the body is read)."""

from __future__ import annotations

from typing import Any, TypeVar

from litestar import Controller, Request, get, post
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from cloud.constants import ADMIN_PREFIX
from cloud.domain.admin.schemas import (
    AuditOut,
    CreateEnrollmentCode,
    CreateNotice,
    CreateOffer,
    CreateUser,
    DeviceOut,
    EnrollmentCodeCreated,
    NoticeCreated,
    OfferOut,
    ProfileOut,
    PushAttemptOut,
    SetProfile,
    UserCreated,
    UserViewOut,
    WithdrawOffer,
)
from cloud.domain.admin.services import AdminService
from cloud.domain.offers.services import OfferService
from cloud.services import services_of
from cloud.wire import decode_json_body

T = TypeVar("T")


def admin_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    services_of(connection).admin.check_token(connection.headers.get("authorization"))


def _path(request: Request[Any, Any, Any], name: str) -> str:
    # Read from the request rather than declared as a handler parameter: Litestar 2.23+ deprecates
    # the plain declaration and its replacement does not exist in the older 2.x this project allows.
    return str(request.path_params[name])


def _admin(request: Request[Any, Any, Any]) -> AdminService:
    return services_of(request).admin


def _offers(request: Request[Any, Any, Any]) -> OfferService:
    return services_of(request).offers


async def _body(request: Request[Any, Any, Any], body_type: type[T], *, optional: bool = False) -> T:
    """The request's JSON body as ``body_type``, strictly (:func:`cloud.wire.decode_json_body`)."""
    return decode_json_body(await request.body(), body_type, optional=optional)


class AdminController(Controller):
    path = ADMIN_PREFIX
    guards = [admin_guard]
    tags = ["admin"]

    @post("/users", status_code=201)
    async def create_user(self, request: Request[Any, Any, Any]) -> UserCreated:
        """Body: :class:`~cloud.domain.admin.schemas.CreateUser` (optional)."""
        data = await _body(request, CreateUser, optional=True)
        return await _admin(request).create_user(data.external_ref)

    @post("/users/{user_id:str}/enrollment-codes", status_code=201)
    async def create_code(self, request: Request[Any, Any, Any]) -> EnrollmentCodeCreated:
        """Body: :class:`~cloud.domain.admin.schemas.CreateEnrollmentCode` (optional)."""
        data = await _body(request, CreateEnrollmentCode, optional=True)
        return await _admin(request).create_enrollment_code(_path(request, "user_id"), data.ttl_s)

    @get("/devices")
    async def list_devices(self, request: Request[Any, Any, Any]) -> list[DeviceOut]:
        """``?user_id=`` filters by user; without it every device is listed."""
        return await _admin(request).list_devices(request.query_params.get("user_id"))

    @post("/devices/{device_id:str}/revoke", status_code=200)
    async def revoke_device(self, request: Request[Any, Any, Any]) -> DeviceOut:
        return await _admin(request).revoke_device(_path(request, "device_id"))

    @post("/users/{user_id:str}/notices", status_code=201)
    async def add_notice(self, request: Request[Any, Any, Any]) -> NoticeCreated:
        """Body: :class:`~cloud.domain.admin.schemas.CreateNotice`."""
        data = await _body(request, CreateNotice)
        return await _admin(request).add_notice(_path(request, "user_id"), data.kind, data.title, data.body)

    @get("/users/{user_id:str}/view")
    async def user_view(self, request: Request[Any, Any, Any]) -> UserViewOut:
        return await _admin(request).user_view(_path(request, "user_id"))

    @post("/users/{user_id:str}/profile", status_code=200)
    async def set_profile(self, request: Request[Any, Any, Any]) -> ProfileOut:
        """Create or replace the user's credit profile (audited; devices get a ``ProfileUpdate``).

        Body: :class:`~cloud.domain.admin.schemas.SetProfile`."""
        data = await _body(request, SetProfile)
        return await _offers(request).set_profile(_path(request, "user_id"), data)

    @post("/users/{user_id:str}/offers", status_code=201)
    async def create_offer(self, request: Request[Any, Any, Any]) -> OfferOut:
        """Offer explicit terms on the profile's current limit (devices get an ``OfferUpsert``).

        Body: :class:`~cloud.domain.admin.schemas.CreateOffer`."""
        data = await _body(request, CreateOffer)
        return await _offers(request).create_offer(_path(request, "user_id"), data)

    @get("/users/{user_id:str}/offers")
    async def list_offers(self, request: Request[Any, Any, Any]) -> list[OfferOut]:
        return await _offers(request).list_offers(_path(request, "user_id"))

    @post("/offers/{offer_id:str}/withdraw", status_code=200)
    async def withdraw_offer(self, request: Request[Any, Any, Any]) -> OfferOut:
        """Body: :class:`~cloud.domain.admin.schemas.WithdrawOffer` (optional)."""
        data = await _body(request, WithdrawOffer, optional=True)
        return await _offers(request).withdraw_offer(_path(request, "offer_id"), data.reason_code)

    @get("/users/{user_id:str}/audit")
    async def user_audit(self, request: Request[Any, Any, Any]) -> list[AuditOut]:
        """The user's audit trail: every offer transition and profile change, oldest first."""
        return await _offers(request).user_audit(_path(request, "user_id"))

    @get("/users/{user_id:str}/pushes")
    async def user_pushes(self, request: Request[Any, Any, Any]) -> list[PushAttemptOut]:
        """Every push attempt to the user's devices (FCM, or the log sender's records), oldest first."""
        return await _offers(request).user_pushes(_path(request, "user_id"))

    @get("/offers/{offer_id:str}/audit")
    async def offer_audit(self, request: Request[Any, Any, Any]) -> list[AuditOut]:
        return await _offers(request).offer_audit(_path(request, "offer_id"))
