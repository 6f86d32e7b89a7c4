"""Plain records the store takes and returns; backend-neutral, no SQL types leak out."""

from __future__ import annotations

from enum import StrEnum

import msgspec

from sync.messages import Mutation


class UserRecord(msgspec.Struct, frozen=True, kw_only=True):
    user_id: str
    external_ref: str | None
    version: int
    """Highest change-log version of the user (0 = no change yet)."""
    created_at: int


class DeviceRecord(msgspec.Struct, frozen=True, kw_only=True):
    device_id: str
    user_id: str
    platform: str
    app_version: str
    last_seq: int
    skew_ms: int
    revoked: bool
    created_at: int
    last_seen_at: int
    lineage_id: str
    """The device's own id, or the lineage of the device it replaced when re-enrolling."""


class RefreshGrant(msgspec.Struct, frozen=True, kw_only=True):
    """A new refresh token to store (hashed) when a device enrolls or rotates."""

    token_hash: str
    expires_at: int


class RotationKind(StrEnum):
    ROTATED = "rotated"
    """The presented token was live: it is now spent and the new one stored."""
    REPLAYED = "replayed"
    """The most recently spent token, whose successor is still unused: answer with that successor
    (the cached pair within the grace period, else with a new access token)."""
    REUSED = "reused"
    """A spent token whose successor was used, or an older one: the device's tokens were revoked."""
    INVALID = "invalid"
    """Unknown, expired or revoked token."""
    DEVICE_REVOKED = "device_revoked"


class RotationOutcome(msgspec.Struct, frozen=True, kw_only=True):
    kind: RotationKind
    cached_successor: bytes | None = None
    """For ``REPLAYED``: what the service cached when it rotated (opaque to the store)."""
    reissue_access: bool = False
    """For ``REPLAYED`` after the grace period: the cached access token may have expired, so the
    answer carries a newly issued one (the refresh token is the same successor)."""


class PushItem(msgspec.Struct, frozen=True, kw_only=True):
    """One pushed mutation after decoding: ``mutation`` is ``None`` when it failed validation."""

    seq: int
    mutation: Mutation | None
    digest: bytes
    """SHA-256 of the mutation's canonical encoding (:mod:`cloud.domain.sync.digest`).

    Kept per processed (device, seq); a later push of that seq with another digest is a
    ``SeqConflict``."""
    error: str | None = None


class ItemResult(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    status: str
    code: str | None = None
    detail: str | None = None


class StoredChange(msgspec.Struct, frozen=True, kw_only=True):
    version: int
    type: str
    body: bytes
    """The change encoded as msgpack (sync.codec)."""


class SyncOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What one ``/v1/sync`` transaction did and the page of changes read after it."""

    last_seq: int
    results: list[ItemResult]
    expected_seq: int | None
    changes: list[StoredChange]
    """Up to ``limit + 1`` changes with version > the requested one, ascending."""


class AggregateRecord(msgspec.Struct, frozen=True, kw_only=True):
    device_id: str
    lineage_id: str
    seq: int
    day: str
    tz_offset_min: int
    window_bucket: int
    levels: dict[str, int]
    mechanism: dict[str, object]
    model_version: str
    created_at: int
    received_at: int


class NoticeRecord(msgspec.Struct, frozen=True, kw_only=True):
    notice_id: str
    version: int
    """Version of the notice's latest ``Notice`` change (the acknowledged one once acked)."""
    kind: str
    title: str
    body: str
    created_at: int
    acked_at: int | None


class UserView(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the server holds that a device of the user mirrors, plus what devices sent."""

    user: UserRecord
    consent: dict[str, bool]
    notices: list[NoticeRecord]
    aggregates: list[AggregateRecord]
    devices: list[DeviceRecord]


class OutboxRecord(msgspec.Struct, frozen=True, kw_only=True):
    outbox_id: int
    kind: str
    payload: bytes
    state: str
    attempts: int
    created_at: int
    updated_at: int
