"""Appending to a user's change log inside the writing transaction."""

from __future__ import annotations

from collections.abc import Callable

from cloud.store.errors import UserNotFound
from cloud.store.records import StoredChange
from cloud.store.tx import Tx
from sync.codec import encode
from sync.messages import Change


def append_change(tx: Tx, user_id: str, build: Callable[[int], Change], now: int) -> int:
    """Take the user's next version (row-serialised counter) and append the change built for it."""
    row = tx.execute(
        "UPDATE users SET version = version + 1 WHERE user_id = ? RETURNING version", (user_id,)
    ).fetchone()
    if row is None:
        raise UserNotFound(user_id)
    version: int = row[0]
    change = build(version)
    tx.execute(
        "INSERT INTO change_log (user_id, version, type, body, created_at) VALUES (?, ?, ?, ?, ?)",
        (user_id, version, type(change).__name__, encode(change), now),
    )
    return version


def change_log(tx: Tx, user_id: str, after_version: int) -> list[StoredChange]:
    """The user's changes with a version above ``after_version``, ascending."""
    rows = tx.execute(
        "SELECT version, type, body FROM change_log WHERE user_id = ? AND version > ? ORDER BY version",
        (user_id, after_version),
    )
    return [StoredChange(version=v, type=t, body=bytes(b)) for v, t, b in rows]
