"""Appending to a user's change log inside the writing transaction."""

from __future__ import annotations

from collections.abc import Callable

from cloud.store.errors import UserErased, UserNotFound
from cloud.store.records import StoredChange
from cloud.store.tx import Tx
from sync.codec import encode
from sync.locales import Locale, resolve_locale
from sync.messages import Change


def require_live_user(tx: Tx, user_id: str) -> None:
    """Raise :class:`UserNotFound` for an unknown user and :class:`UserErased` for an erased one.

    The user's row is locked first, so a write that passes commits before an erasure of the user
    can start, and the erasure deletes what it wrote.
    """
    tx.lock_user(user_id)
    row = tx.execute("SELECT erased_at FROM users WHERE user_id = ?", (user_id,)).fetchone()
    if row is None:
        raise UserNotFound(f"no user {user_id}")
    if row[0] is not None:
        raise UserErased(f"user {user_id} was erased")


def user_locale(tx: Tx, user_id: str) -> Locale:
    """The locale the user's texts are written in: the one their devices last sent, else the default."""
    row = tx.execute("SELECT locale FROM users WHERE user_id = ?", (user_id,)).fetchone()
    return resolve_locale(None if row is None else row[0])


def append_change(tx: Tx, user_id: str, build: Callable[[int], Change], now: int) -> int:
    """Take the user's next version (row-serialised counter) and append the change built for it.

    An erased user gets no change but the erasure's own ``Wipe``: :class:`UserErased`.
    """
    row = tx.execute(
        "UPDATE users SET version = version + 1 WHERE user_id = ? AND erased_at IS NULL RETURNING version",
        (user_id,),
    ).fetchone()
    if row is None:
        require_live_user(tx, user_id)
        raise UserNotFound(user_id)  # unreachable: a live row would have matched the update
    return append_at(tx, user_id, row[0], build, now)


def append_at(tx: Tx, user_id: str, version: int, build: Callable[[int], Change], now: int) -> int:
    """Append the change built for ``version``, a version the caller has just taken."""
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
