"""What one ``sync()`` call did, returned instead of raising for conditions the SDK handles itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from edge_sdk.errors import DeviceRevoked, DeviceStateRolledBack, EdgeError
from edge_sdk.store.local import Rejection


class SyncStatus(StrEnum):
    SYNCED = "synced"
    """Outbox drained (as far as it was when the sync started) and pulled until ``has_more`` was false."""
    MORE_PENDING = "more_pending"
    """Stopped after ``max_exchanges`` exchanges; call ``sync()`` again."""
    BACKING_OFF = "backing_off"
    """Did nothing: an earlier failure scheduled the next attempt for ``next_attempt_at``."""
    RETRY_SCHEDULED = "retry_scheduled"
    """This attempt failed (network, 5xx, 429/503); the next one is due at ``next_attempt_at``."""
    WIPED = "wiped"
    """The cloud sent ``Wipe``: the store, credentials and identity are erased."""


@dataclass(slots=True)
class SyncOutcome:
    status: SyncStatus
    exchanges: int = 0
    pushed: int = 0
    """Outbox rows the cloud acknowledged (and the store deleted) during this call."""
    pulled: int = 0
    """Changes applied to the mirror."""
    skipped_changes: int = 0
    """Changes of unknown types, or older than the mirror, left out."""
    rejected: list[Rejection] = field(default_factory=list)
    next_attempt_at: int | None = None
    """Device time (epoch ms) of the next attempt while backing off."""
    error: EdgeError | None = None
    """Why the attempt failed (``RETRY_SCHEDULED``)."""
    rolled_back: DeviceStateRolledBack | None = None
    """Set when this call detected a rollback and re-enrolled the device."""
    revoked: DeviceRevoked | None = None
    """Set when this call lost the identity (revoked device, refused refresh) and re-enrolled."""
    reenrolled_device_id: str | None = None
    """The new identity when this call re-enrolled (after a rollback or a lost identity, or
    finishing a re-enrollment an earlier call started)."""
    requeued: int = 0
    """Pending mutations renumbered under the new identity after a re-enrollment."""

    @property
    def ok(self) -> bool:
        return self.status in (SyncStatus.SYNCED, SyncStatus.MORE_PENDING, SyncStatus.WIPED)
