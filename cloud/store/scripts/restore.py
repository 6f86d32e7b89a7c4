"""After a restore from a backup: replaying a consent revocation the rights journal kept
(:mod:`cloud.journal`; erasures replay through :func:`cloud.store.scripts.erasure.erase_user`)."""

from __future__ import annotations

from typing import Final, Literal

from cloud.store.scripts.mutations import record_consent
from cloud.store.tx import Tx
from sync.messages import ConsentScope

Replayed = Literal["applied", "stale", "unknown_user", "erased"]
RESTORE_DEVICE: Final = "restore"
"""The device a replayed revocation is recorded under when its own is unknown to the backup."""


def replay_revocation(tx: Tx, user_id: str, device_id: str | None, scope: str, at: int, now: int) -> Replayed:
    """Revoke ``scope`` for the user as of ``at``, unless a later change of it is recorded."""
    tx.lock_user(user_id)
    row = tx.execute("SELECT erased_at FROM users WHERE user_id = ?", (user_id,)).fetchone()
    if row is None:
        return "unknown_user"  # made after the backup: nothing of theirs is in it
    if row[0] is not None:
        return "erased"
    known = device_id is not None and (
        tx.execute("SELECT 1 FROM devices WHERE device_id = ?", (device_id,)).fetchone() is not None
    )
    recorded_by = device_id if known and device_id is not None else RESTORE_DEVICE
    changed = record_consent(tx, user_id, recorded_by, ConsentScope(scope), False, at, now)
    return "applied" if changed else "stale"
