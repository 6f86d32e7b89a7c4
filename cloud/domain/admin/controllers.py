"""Admin endpoints under ``/v1/admin``, all behind an admin credential and a role (checked by
:func:`cloud.deps.admin_guard`, before the body is read). Bodies are decoded strictly
(:class:`cloud.deps.StrictBody`)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, JSONBody, QueryParameter

from cloud.api_docs import problems
from cloud.constants import ADMIN_PREFIX
from cloud.deps import ADMIN_SECURITY, AdminDep, DoctorDep, OffersDep, StrictBody, admin_guard
from cloud.domain.admin.paging import DEFAULT_PAGE, MAX_PAGE
from cloud.domain.admin.schemas import (
    AuditOut,
    CloseReview,
    CreateEnrollmentCode,
    CreateNotice,
    CreateOffer,
    CreateUser,
    DeviceOut,
    DevicesPage,
    EnrollmentCodeCreated,
    ErasureOut,
    EvaluationsPage,
    NoticeCreated,
    OfferOut,
    OffersPage,
    OutboxRowsPage,
    ProfileOut,
    PushAttemptOut,
    ReviewOut,
    ReviewsPage,
    RevokeDevice,
    SetProfile,
    TimelinePage,
    UserCreated,
    UserExport,
    UsersPage,
    UserViewOut,
    WithdrawOffer,
)
from cloud.domain.health.services import DoctorReport
from cloud.outbox.kinds import OutboxKind
from cloud.ratelimit import client_address
from cloud.request_context import current_actor
from cloud.store.records import EvaluationState, OperatorRole, OutboxState, ReviewStatus
from sync.messages import OfferStatus, Platform

Limit = Annotated[int, QueryParameter(ge=1, le=MAX_PAGE, description="Rows a page")]
Cursor = Annotated[str | None, QueryParameter(max_length=512, description="`next_cursor` of the page before")]
UserFilter = Annotated[str | None, QueryParameter(description="Only this user's (404 if there is none)")]


class AdminController(Controller):
    path = ADMIN_PREFIX
    guards = [admin_guard]
    security = ADMIN_SECURITY
    tags = ["admin"]
    return_dto = None

    @post("/users", status_code=201, dto=StrictBody[CreateUser])
    async def create_user(self, admin: AdminDep, data: JSONBody[CreateUser | None] = None) -> UserCreated:
        """Create a user; the body is optional."""
        return await admin.create_user((data or CreateUser()).external_ref)

    @post("/users/{user_id:str}/enrollment-codes", status_code=201, dto=StrictBody[CreateEnrollmentCode])
    async def create_code(
        self,
        user_id: FromPath[str],
        admin: AdminDep,
        data: JSONBody[CreateEnrollmentCode | None] = None,
    ) -> EnrollmentCodeCreated:
        """A one-time enrollment code for the user (shown once); the body is optional."""
        return await admin.create_enrollment_code(user_id, (data or CreateEnrollmentCode()).ttl_s)

    @get("/devices/{device_id:str}")
    async def show_device(self, device_id: FromPath[str], admin: AdminDep) -> DeviceOut:
        """One device."""
        return await admin.device(device_id)

    @get("/offers/{offer_id:str}")
    async def show_offer(self, offer_id: FromPath[str], offers: OffersDep) -> OfferOut:
        """One offer, as the server holds it."""
        return await offers.offer(offer_id)

    @get("/doctor")
    async def doctor(self, doctor: DoctorDep) -> DoctorReport:
        """Settings, database, Redis, migrations, workers and the clock skew to the database, checked."""
        return await doctor.report()

    @post("/devices/{device_id:str}/revoke", status_code=200, dto=StrictBody[RevokeDevice])
    async def revoke_device(
        self, device_id: FromPath[str], admin: AdminDep, data: JSONBody[RevokeDevice | None] = None
    ) -> DeviceOut:
        """Revoke the device: its tokens stop working at once. With ``{"reason": "stolen"}`` its
        lineage closes too: no re-enrollment may replace it (spec §4.1); the body is optional."""
        return await admin.revoke_device(device_id, (data or RevokeDevice()).reason)

    @get("/users/{user_id:str}/export", opt={"role": OperatorRole.OPERATOR})
    async def export_user(
        self, request: Request[Any, Any, Any], user_id: FromPath[str], admin: AdminDep
    ) -> UserExport:
        """Everything held about the user as one JSON document (the right of access, LGPD art. 18,
        GDPR art. 15). Needs the ``operator`` role, and every export is in the auth audit."""
        return await admin.export_user(user_id, actor=current_actor(), address=client_address(request))

    @post("/users/{user_id:str}/erase", status_code=200, opt={"role": OperatorRole.OPERATOR})
    async def erase_user(
        self, request: Request[Any, Any, Any], user_id: FromPath[str], admin: AdminDep
    ) -> ErasureOut:
        """Erase the user (the right to erasure, LGPD art. 18, GDPR art. 17): personal data goes,
        a tombstone and the money records stay, and each device erases itself at its next sync.
        Refused (``offer_in_flight``) while an accepted offer is not yet applied; erasing an erased
        user again changes nothing. Needs the ``operator`` role, and is in the auth audit."""
        return await admin.erase_user(user_id, actor=current_actor(), address=client_address(request))

    @post("/users/{user_id:str}/notices", status_code=201, dto=StrictBody[CreateNotice])
    async def add_notice(
        self, user_id: FromPath[str], admin: AdminDep, data: JSONBody[CreateNotice]
    ) -> NoticeCreated:
        """A notice for the user's devices (delivered by sync)."""
        return await admin.add_notice(user_id, data.kind, data.title, data.body)

    @get("/users/{user_id:str}/view")
    async def user_view(self, user_id: FromPath[str], admin: AdminDep) -> UserViewOut:
        """Everything the user's devices should mirror, and what they sent."""
        return await admin.user_view(user_id)

    @post("/users/{user_id:str}/profile", status_code=200, dto=StrictBody[SetProfile])
    async def set_profile(
        self, user_id: FromPath[str], offers: OffersDep, data: JSONBody[SetProfile]
    ) -> ProfileOut:
        """Create or replace the user's credit profile (audited; devices get a ``ProfileUpdate``)."""
        return await offers.set_profile(user_id, data)

    @post(
        "/users/{user_id:str}/offers", status_code=201, dto=StrictBody[CreateOffer], responses=problems(409)
    )
    async def create_offer(
        self, user_id: FromPath[str], offers: OffersDep, data: JSONBody[CreateOffer]
    ) -> OfferOut:
        """Offer explicit terms on the profile's current limit (devices get an ``OfferUpsert``)."""
        return await offers.create_offer(user_id, data)

    @get("/users/{user_id:str}/offers")
    async def list_offers(self, user_id: FromPath[str], offers: OffersDep) -> list[OfferOut]:
        """The user's offers, oldest first."""
        return await offers.list_offers(user_id)

    @post(
        "/offers/{offer_id:str}/withdraw",
        status_code=200,
        dto=StrictBody[WithdrawOffer],
        responses=problems(409),
    )
    async def withdraw_offer(
        self,
        offer_id: FromPath[str],
        offers: OffersDep,
        data: JSONBody[WithdrawOffer | None] = None,
    ) -> OfferOut:
        """Withdraw an open offer (409 once it is accepted or closed); the body is optional."""
        return await offers.withdraw_offer(offer_id, (data or WithdrawOffer()).reason_code)

    @get("/users/{user_id:str}/audit")
    async def user_audit(self, user_id: FromPath[str], offers: OffersDep) -> list[AuditOut]:
        """The user's audit trail: every offer transition and profile change, oldest first."""
        return await offers.user_audit(user_id)

    @get("/users/{user_id:str}/pushes")
    async def user_pushes(self, user_id: FromPath[str], offers: OffersDep) -> list[PushAttemptOut]:
        """Every push attempt to the user's devices (FCM, or the log sender's records), oldest first."""
        return await offers.user_pushes(user_id)

    @get("/offers/{offer_id:str}/audit")
    async def offer_audit(self, offer_id: FromPath[str], offers: OffersDep) -> list[AuditOut]:
        """The offer's audit trail, oldest first."""
        return await offers.offer_audit(offer_id)

    # --- reviews of automated decisions (LGPD art. 20, GDPR art. 22) --------------------------

    @get("/reviews")
    async def list_reviews(
        self,
        admin: AdminDep,
        status: Annotated[ReviewStatus | None, QueryParameter(description="Only open or closed ones")] = None,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE,
    ) -> ReviewsPage:
        """Users' requests that a person review the decision behind an offer, newest first."""
        return await admin.reviews(status=status, cursor=cursor, limit=limit)

    @post("/reviews/{review_id:str}/close", status_code=200, dto=StrictBody[CloseReview])
    async def close_review(
        self, review_id: FromPath[str], admin: AdminDep, data: JSONBody[CloseReview]
    ) -> ReviewOut:
        """Close a review with the reviewer's answer, which the user is sent as a notice (pushed with
        the ``push`` consent). A closed review is ``409 review_closed``."""
        return await admin.close_review(review_id, data.resolution, actor=current_actor())

    # --- the lists: newest first; ``next_cursor`` pages on --------------------------------------

    @get("/users")
    async def list_users(
        self,
        admin: AdminDep,
        external_ref: Annotated[str | None, QueryParameter(description="Only the user with this ref")] = None,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE,
    ) -> UsersPage:
        """Users, newest first."""
        return await admin.users(external_ref=external_ref, cursor=cursor, limit=limit)

    @get("/devices", responses=problems(404))
    async def list_devices(
        self,
        admin: AdminDep,
        user_id: UserFilter = None,
        platform: Annotated[Platform | None, QueryParameter()] = None,
        revoked: Annotated[bool | None, QueryParameter()] = None,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE,
    ) -> DevicesPage:
        """Devices, newest first."""
        return await admin.devices(
            user_id=user_id, platform=platform, revoked=revoked, cursor=cursor, limit=limit
        )

    @get("/offers", responses=problems(404))
    async def list_all_offers(
        self,
        admin: AdminDep,
        status: Annotated[OfferStatus | None, QueryParameter()] = None,
        user_id: UserFilter = None,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE,
    ) -> OffersPage:
        """Offers of every user (or one), by status, newest first."""
        return await admin.offers(status=status, user_id=user_id, cursor=cursor, limit=limit)

    @get("/evaluations", responses=problems(404))
    async def list_evaluations(
        self,
        admin: AdminDep,
        status: Annotated[EvaluationState | None, QueryParameter()] = None,
        user_id: UserFilter = None,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE,
    ) -> EvaluationsPage:
        """Credit evaluations, newest first."""
        return await admin.evaluations(status=status, user_id=user_id, cursor=cursor, limit=limit)

    @get("/outbox/rows")
    async def list_outbox_rows(
        self,
        admin: AdminDep,
        kind: Annotated[OutboxKind | None, QueryParameter()] = None,
        # `state` is a name Litestar reserves for the application state.
        row_state: Annotated[OutboxState | None, QueryParameter(name="state")] = None,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE,
    ) -> OutboxRowsPage:
        """Outbox rows, newest first (payloads summarized: ids and kinds, no message text)."""
        return await admin.outbox_rows(kind=kind, state=row_state, cursor=cursor, limit=limit)

    @get("/users/{user_id:str}/timeline")
    async def timeline(
        self, user_id: FromPath[str], admin: AdminDep, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE
    ) -> TimelinePage:
        """What happened to the user, newest first: devices enrolled, seen (their latest sync) and
        revoked, consent changes, aggregates received, notices, evaluations, offer and profile
        audit events, pushes."""
        return await admin.timeline(user_id, cursor=cursor, limit=limit)
