"""What the SDK's readers return: the local mirror with pending mutations overlaid.

msgspec Structs, so a bridge can hand them to a host app as JSON with one encode call.
"""

from __future__ import annotations

import msgspec


class OfferView(msgspec.Struct, frozen=True, kw_only=True):
    offer_id: str
    status: str
    """An ``OfferStatus`` value, or ``accepting`` / ``declining`` while the user's answer is pending."""
    current_limit_cents: int
    new_limit_cents: int
    rate_bps: int
    term_months: int
    expires_at: int
    reason_codes: list[str]
    reasons: list[str]
    """The reasons in plain language, in the user's language, to show beside the offer."""
    updated_at: int
    pending: bool
    """True while a local answer to this offer waits in the outbox."""


class NoticeView(msgspec.Struct, frozen=True, kw_only=True):
    notice_id: str
    kind: str
    title: str
    body: str
    created_at: int
    acked: bool
    pending: bool
    """True while the acknowledgement waits in the outbox."""


class ConsentView(msgspec.Struct, frozen=True, kw_only=True):
    scopes: dict[str, bool]
    """Every consent scope; a scope never granted is ``False``."""
    pending: list[str]
    """Scopes whose shown value comes from a change still in the outbox."""


class StatusView(msgspec.Struct, frozen=True, kw_only=True):
    enrolled: bool
    device_id: str | None
    user_id: str | None
    pending: int
    """Mutations waiting in the outbox."""
    last_seq_acked: int
    highest_seq_allocated: int
    last_sync_at: int | None
    next_attempt_at: int | None
    """Set while backing off after a failure: ``sync()`` does nothing before this device time."""
    next_sync_hint_at: int | None
    """When the cloud suggested the next sync."""
    consecutive_failures: int
    skew_ms: int
    last_error: str | None
    rejected: int
    """Mutations the cloud refused so far (see ``EdgeClient.rejections()``)."""
    identity_lost: str | None = None
    """Why the cloud stopped accepting this identity (e.g. ``device_revoked``): ``sync()`` raises
    :class:`~edge_sdk.errors.DeviceRevoked` until the device enrolls again."""
