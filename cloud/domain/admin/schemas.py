"""JSON bodies of the admin API (not sync wire types: only operators and tests speak them)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import msgspec

from cloud.domain.credit.money import MAX_CENTS, MAX_RATE_BPS
from cloud.domain.credit.schemas import CreditFeaturesOut, EvaluationOut
from cloud.store.records import AggregateRecord, AuditRecord, ReviewStatus, TimelineEntry
from sync.messages import Notice, Offer, Profile

MAX_CODE_TTL_S = 30 * 24 * 3600


class CreateUser(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    external_ref: Annotated[str, msgspec.Meta(min_length=1, max_length=128)] | None = None


class UserCreated(msgspec.Struct, kw_only=True):
    user_id: str


class CreateEnrollmentCode(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    ttl_s: Annotated[int, msgspec.Meta(ge=1, le=MAX_CODE_TTL_S)] | None = None
    """Lifetime of the code; the ``ENROLLMENT_CODE_TTL_S`` setting when omitted."""


class EnrollmentCodeCreated(msgspec.Struct, kw_only=True):
    code: str
    """Shown once; the server keeps only its hash."""
    expires_at: int


class DeviceOut(msgspec.Struct, kw_only=True):
    device_id: str
    user_id: str
    platform: str
    last_seq: int
    skew_ms: int
    revoked: bool
    created_at: int
    last_seen_at: int
    lineage_id: str
    """The device's own id, or that of the device it replaced (and its predecessors)."""


class CreateNotice(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    kind: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    body: Annotated[str, msgspec.Meta(max_length=2000)]


class NoticeCreated(msgspec.Struct, kw_only=True):
    notice_id: str
    version: int


class UserViewOut(msgspec.Struct, kw_only=True):
    """Everything a device of the user should mirror, plus what the user's devices sent."""

    user_id: str
    version: int
    erased_at: int | None
    """When the user was erased: what is left is the tombstone and the money records."""
    consent: dict[str, bool]
    notices: list[Notice]
    offers: list[Offer]
    """Every offer of the user in its latest state, as the devices mirror them (oldest first)."""
    profile: Profile | None
    aggregates: list[AggregateRecord]
    devices: list[DeviceOut]


class SetProfile(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Create or replace a user's credit profile; amounts in integer cents, the rate in bps."""

    currency: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")]
    limit_cents: Annotated[int, msgspec.Meta(ge=0, le=MAX_CENTS)]
    used_cents: Annotated[int, msgspec.Meta(ge=0, le=MAX_CENTS)]
    rate_bps: Annotated[int, msgspec.Meta(ge=0, le=MAX_RATE_BPS)]


class ProfileOut(msgspec.Struct, kw_only=True):
    user_id: str
    version: int
    """The user's change-log version carrying this profile."""
    profile: Profile
    available_cents: int
    """The limit less what is used, never below zero."""


class CreateOffer(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Explicit offer terms; the current limit is the profile's at creation."""

    new_limit_cents: Annotated[int, msgspec.Meta(ge=0, le=MAX_CENTS)]
    rate_bps: Annotated[int, msgspec.Meta(ge=0, le=MAX_RATE_BPS)]
    term_months: Annotated[int, msgspec.Meta(ge=0, le=600)] = 0
    expires_at: Annotated[int, msgspec.Meta(ge=0, le=2**53)]
    """Unix epoch ms; must be in the future."""
    reason_codes: Annotated[
        list[Annotated[str, msgspec.Meta(min_length=1, max_length=64)]], msgspec.Meta(max_length=32)
    ] = msgspec.field(default_factory=list)
    policy_version: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] = "manual"


class RevokeReason(StrEnum):
    """Why a device is revoked: ``stolen`` also closes its lineage, ``other`` keeps the
    re-enrollment path of a restored store (spec §6.5)."""

    STOLEN = "stolen"
    OTHER = "other"


class RevokeDevice(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    reason: RevokeReason = RevokeReason.OTHER


class WithdrawOffer(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    reason_code: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] = "withdrawn"


AuditOut = AuditRecord
"""An audit event as stored (append-only)."""


class PushAttemptOut(msgspec.Struct, kw_only=True):
    """One push to one device, as the operator sees it: the token shortened to its last characters."""

    outbox_id: int
    attempt: int
    device_id: str
    token_suffix: str
    sender: str
    """``fcm``, or ``log`` (the embedded default: pushes recorded, not sent)."""
    outcome: str
    """``sent``, ``retry``, ``deactivate`` or ``failed``."""
    error_code: str | None
    message_id: str | None
    message: dict[str, object]
    """What was handed to the sender, without the token (data, title, body, ttl_s, collapse_key)."""
    at: int


class OfferOut(msgspec.Struct, kw_only=True):
    """An offer as the server holds it: the device's ``Offer`` plus who it is for and its policy."""

    user_id: str
    offer: Offer
    policy_version: str
    created_at: int


# --- outbox and queue (operators) -------------------------------------------------------------


class OutboxCountOut(msgspec.Struct, kw_only=True):
    kind: str
    state: str
    """``pending``, ``done`` or ``dead``."""
    count: int


class QueueDepthOut(msgspec.Struct, kw_only=True):
    name: str
    depth: int | None
    """Jobs waiting in the arq queue; ``null`` when it cannot be read (``reason`` says why)."""
    reason: str | None = None
    worker_health: str | None = None
    """The last health line a worker of this queue wrote (jobs complete, failed, retried, ongoing,
    queued); ``null`` when none wrote one within ``WORKER_HEALTH_CHECK_INTERVAL_S`` + 1 s."""


class OutboxStatsOut(msgspec.Struct, kw_only=True):
    counts: list[OutboxCountOut]
    """Rows per (kind, state), ordered by kind then state; only pairs that have rows."""
    oldest_pending_age_ms: int | None
    """How long the longest-waiting due ``pending`` row has been able to run (since its creation,
    or its ``not_before`` if later); ``null`` when none is due. Growing while the queue is empty
    means no worker relays."""
    deferred_pending: int = 0
    """Pending rows not due yet (deferred announcements, FCM back-offs): waiting on purpose."""
    """Age of the oldest ``pending`` row (now minus its ``created_at``); ``null`` when none."""
    queue: QueueDepthOut


class DeadLetterOut(msgspec.Struct, kw_only=True):
    outbox_id: int
    kind: str
    attempts: int
    """Number of the last attempt made (numbered from 0)."""
    first_attempt: int
    """First attempt of the round that died (above 0 after an operator's retry)."""
    last_error: str | None
    payload: dict[str, str | int | bool | None]
    """The payload's identifying fields (offer, user, notice ids, kinds); message texts left out."""
    parent_id: int | None
    created_at: int
    dead_at: int


class DeadLettersOut(msgspec.Struct, kw_only=True):
    items: list[DeadLetterOut]
    next_after_id: int | None
    """Pass as ``after_id`` for the next page; ``null`` on the last page."""


class OutboxRetryOut(msgspec.Struct, kw_only=True):
    outbox_id: int
    kind: str
    state: str
    attempt: int
    """The attempt the row was enqueued as (the first of its new round)."""
    enqueued: bool
    """Whether the job was queued right away; if not, the worker's relay queues it later."""


# --- the lists (paged by cursor, newest first) ------------------------------------------------


class UserOut(msgspec.Struct, kw_only=True):
    user_id: str
    external_ref: str | None
    version: int
    """The user's change-log version: how many changes its devices have been sent."""
    created_at: int
    erased_at: int | None = None
    """When the user was erased; the row is then a tombstone (``external_ref`` cleared)."""


class ErasureOut(msgspec.Struct, kw_only=True):
    """What ``POST /v1/admin/users/{user_id}/erase`` did (``docs/privacy.md``)."""

    user_id: str
    erased_at: int
    already_erased: bool
    """The user had been erased before; nothing was done now."""
    devices_to_wipe: int
    """The user's devices that are not revoked, each erased when it next syncs (a data-only push
    asks them to now)."""
    offers_withdrawn: list[str]
    evaluations_cancelled: int
    pushes_cancelled: int


class OutboxRowOut(msgspec.Struct, kw_only=True):
    outbox_id: int
    kind: str
    state: str
    """``pending``, ``done`` or ``dead``."""
    attempts: int
    first_attempt: int
    last_error: str | None
    payload: dict[str, str | int | bool | None]
    """The payload's identifying fields (offer, user, notice ids, kinds); message texts left out."""
    parent_id: int | None
    not_before: int | None
    created_at: int
    updated_at: int


TimelineEntryOut = TimelineEntry
"""An event of a user's timeline, as the store reads it."""


class UsersPage(msgspec.Struct, kw_only=True):
    items: list[UserOut]
    next_cursor: str | None
    """Pass as ``cursor`` for the next page; ``null`` on the last page."""


class ReviewOut(msgspec.Struct, kw_only=True):
    """A user's request that a person review the automated decision behind an offer."""

    review_id: str
    user_id: str
    offer_id: str
    device_id: str
    note: str | None
    """What the user wrote for the reviewer."""
    status: ReviewStatus
    created_at: int
    closed_at: int | None
    closed_by: str | None
    """The operator who closed it (``operator:<name>``, a service key, or ``admin``)."""
    resolution: str | None
    """The reviewer's answer, sent to the user as a notice."""


class ReviewsPage(msgspec.Struct, kw_only=True):
    items: list[ReviewOut]
    next_cursor: str | None


class CloseReview(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    resolution: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
    """The reviewer's answer: sent to the user as written, inside a notice in the user's locale."""


class DevicesPage(msgspec.Struct, kw_only=True):
    items: list[DeviceOut]
    next_cursor: str | None
    """Pass as ``cursor`` for the next page; ``null`` on the last page."""


class OffersPage(msgspec.Struct, kw_only=True):
    items: list[OfferOut]
    next_cursor: str | None
    """Pass as ``cursor`` for the next page; ``null`` on the last page."""


class EvaluationsPage(msgspec.Struct, kw_only=True):
    items: list[EvaluationOut]
    next_cursor: str | None
    """Pass as ``cursor`` for the next page; ``null`` on the last page."""


class OutboxRowsPage(msgspec.Struct, kw_only=True):
    items: list[OutboxRowOut]
    next_cursor: str | None
    """Pass as ``cursor`` for the next page; ``null`` on the last page."""


class TimelinePage(msgspec.Struct, kw_only=True):
    items: list[TimelineEntryOut]
    next_cursor: str | None
    """Pass as ``cursor`` for the next page; ``null`` on the last page."""


EXPORT_SCHEMA_VERSION = 1


class PushTokenOut(msgspec.Struct, kw_only=True):
    device_id: str
    token_suffix: str
    """The token's last characters: enough to tell it apart, not to use it."""
    platform: str
    active: bool
    updated_at: int


class UserExport(msgspec.Struct, kw_only=True):
    """Everything held about a user, as one document (``docs/privacy.md`` lists what each part is).

    ``schema_version`` changes when a field's meaning does; fields are only added otherwise."""

    schema_version: int
    exported_at: int
    user: UserOut
    profile: Profile | None
    consent: dict[str, bool]
    devices: list[DeviceOut]
    offers: list[Offer]
    audit: list[AuditRecord]
    evaluations: list[EvaluationOut]
    credit_features: CreditFeaturesOut | None
    notices: list[Notice]
    aggregates: list[AggregateRecord]
    push_tokens: list[PushTokenOut]
    pushes: list[PushAttemptOut]
    reviews: list[ReviewOut]
