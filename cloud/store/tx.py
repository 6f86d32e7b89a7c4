"""The transaction interface every transaction script is written against, and engines implement.

A *transaction script* (:mod:`cloud.store.scripts`) is one use case — enroll a device, apply a
push, apply an accepted offer, relay the outbox — written once as a plain synchronous function of
a :class:`Tx`. An engine (:mod:`cloud.store.engines`) opens the transaction, hands the script a
``Tx`` over its connection and commits; the script never sees which database it runs on.

The interface is deliberately narrow:

- ``execute`` runs one statement of the portable SQL the scripts use: ``?`` placeholders,
  ``INSERT … RETURNING``, ``ON CONFLICT … DO UPDATE``, integers for booleans, text for JSON and
  bytes for blobs — what SQLite 3.35+ and PostgreSQL both understand. The result is a DB-API
  cursor (``fetchone``, ``fetchall``, iteration, ``rowcount``).
- ``lock_device`` and ``lock_user`` take the row locks a script needs before it reads state it
  will change. SQLite's ``BEGIN IMMEDIATE`` already serialises every writer, so there they cost
  nothing; PostgreSQL takes ``SELECT … FOR UPDATE``, always the device before the user, so two
  requests of one user queue behind each other instead of deadlocking.
- ``outbox_written`` collects the outbox rows the transaction inserted (every insert returns its
  row), for the caller to enqueue once it has committed. Nothing relies on an engine's id order.

Synchronous on purpose: SQLite runs the whole script as one call on its connection's thread
(measured ~10 times faster than awaiting each statement) and PostgreSQL runs the same script on a
pooled connection in a worker thread.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from cloud.store.records import OutboxRecord


class Cursor(Protocol):
    """The part of a DB-API cursor the scripts use."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Tx(Protocol):
    """One open transaction of an engine (see the module docstring)."""

    outbox_written: list[OutboxRecord]
    """Outbox rows this transaction inserted, in order."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        """Run one statement (``?`` placeholders) and return its cursor."""
        ...

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement once per row of parameters (one call into the driver)."""
        ...

    def lock_device(self, device_id: str) -> None:
        """Lock the device's row until the transaction ends (before the user's row)."""
        ...

    def lock_user(self, user_id: str) -> None:
        """Lock the user's row until the transaction ends (after any device row)."""
        ...
