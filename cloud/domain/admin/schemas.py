"""JSON bodies of the admin API (not sync wire types: only operators and tests speak them)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from cloud.store.records import AggregateRecord
from sync.messages import Notice

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
    offers: list[object]
    profile: object | None
    aggregates: list[AggregateRecord]
    devices: list[DeviceOut]
