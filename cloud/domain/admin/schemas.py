"""JSON bodies of the admin API (not sync wire types: only operators and tests speak them)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from cloud.domain.credit.money import MAX_CENTS, MAX_RATE_BPS
from cloud.store.records import AggregateRecord, AuditRecord
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


class WithdrawOffer(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    reason_code: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] = "withdrawn"


AuditOut = AuditRecord
"""An audit event as stored (append-only)."""


class OfferOut(msgspec.Struct, kw_only=True):
    """An offer as the server holds it: the device's ``Offer`` plus who it is for and its policy."""

    user_id: str
    offer: Offer
    policy_version: str
    created_at: int
