"""What a push says and what became of it: the outbox payload, messages, results, the protocol.

A ``send_push`` outbox row (:data:`cloud.outbox.kinds.SEND_PUSH`) carries a :class:`PushPayload`;
the job turns it into one :class:`PushMessage` per active token and hands them to a
:class:`PushSender`, which answers one :class:`PushResult` per message, in order. The sender only
classifies; the job records every attempt and acts on it (deactivate the token, retry the row
later).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, Protocol

import msgspec

NOTICE_TTL_S: Final = 7 * 24 * 3600
"""How long FCM keeps a notice for an offline device; the notice also arrives through sync."""

SYNC_PING_TTL_S: Final = 3600
"""A sync ping older than this is pointless: the device syncs on its own schedule anyway."""

SYNC_COLLAPSE_KEY: Final = "sync"
"""Collapse key of data-only sync pings: an offline device gets only the latest one."""

LOCK_SCREEN_TITLE: Final = "You have an update"
LOCK_SCREEN_BODY: Final = "Open the app to see it."
"""What every shown push says, whatever the notice: a push is read on a lock screen, by anyone
holding the phone, so it carries no amount, no reason and no offer; the notice itself arrives by
sync, inside the app."""

RETRY_BASE_MS: Final = 30_000
RETRY_CAP_MS: Final = 15 * 60_000


def retry_delay_ms(attempt: int, base_ms: int = RETRY_BASE_MS) -> int:
    """Back-off before the next attempt after FCM said UNAVAILABLE / QUOTA_EXCEEDED: doubling, capped.

    ``base_ms`` is ``PUSH_RETRY_BASE_S`` in milliseconds (tests shorten it).
    """
    return int(min(base_ms * 2 ** min(attempt, 16), RETRY_CAP_MS))


class PushPayload(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The payload of a ``send_push`` outbox row: a notice to show, or (no notice) a sync ping."""

    user_id: str
    notice_id: str | None = None
    notice_kind: str | None = None
    title: str | None = None
    body: str | None = None
    """Written by earlier releases (the notice's own text); never sent: see :data:`LOCK_SCREEN_TITLE`."""
    offer_id: str | None = None
    """An announcement of this offer: sent only while the offer is still ``offered`` (a deferred
    announcement must not advertise an offer withdrawn, declined, accepted or expired meanwhile)."""
    erasure: bool = False
    """A sync ping to the devices of an erased user, so they pull their ``Wipe`` now. Data-only (it
    shows nothing), it is sent without the ``push`` consent, which the erasure deleted."""


class PushMessage(msgspec.Struct, frozen=True, kw_only=True):
    """One push to one token. With ``title`` it is shown; without, it is data-only."""

    token: str
    data: dict[str, str]
    ttl_s: int
    title: str | None = None
    body: str | None = None
    collapse_key: str | None = None


def message_for(payload: PushPayload, token: str) -> PushMessage:
    """The message ``payload`` asks for, addressed to ``token``."""
    if payload.notice_id is None:
        return sync_ping(token)
    return PushMessage(
        token=token,
        data={"type": "notice", "notice_id": payload.notice_id, "kind": payload.notice_kind or ""},
        ttl_s=NOTICE_TTL_S,
        title=LOCK_SCREEN_TITLE,
        body=LOCK_SCREEN_BODY,
    )


def sync_ping(token: str) -> PushMessage:
    """A data-only, collapsible message that only asks the device to sync."""
    return PushMessage(
        token=token, data={"type": "sync"}, ttl_s=SYNC_PING_TTL_S, collapse_key=SYNC_COLLAPSE_KEY
    )


class PushOutcome(StrEnum):
    SENT = "sent"
    DEACTIVATE = "deactivate"
    """The token is dead (UNREGISTERED, SENDER_ID_MISMATCH, invalid token): never use it again."""
    RETRY = "retry"
    """FCM is unavailable or over quota: try again later, with back-off."""
    FAILED = "failed"
    """Any other error: recorded, not retried (retrying would not change the answer)."""
    NO_CONSENT = "no_consent"
    """Not sent: the user has not granted the ``push`` consent (only the job records this)."""
    OFFER_CLOSED = "offer_closed"
    """Not sent: the offer the push announces is no longer open (only the job records this)."""


class PushResult(msgspec.Struct, frozen=True, kw_only=True):
    token: str
    outcome: PushOutcome
    message_id: str | None = None
    error_code: str | None = None


class PushSender(Protocol):
    """Delivers messages; answers one result per message, in order, and never raises for one."""

    name: str
    """Recorded with every attempt (``log``, ``fcm``)."""

    async def send(self, messages: list[PushMessage]) -> list[PushResult]: ...

    async def close(self) -> None: ...
