"""What a server holds, read through the store interface: tests never open its database themselves.

Integration and chaos checks assert through :class:`cloud.store.Store` (or the admin API), so they
hold on every engine. :class:`StoreReader` opens the store a server's ``DATABASE_URL`` names with
:func:`cloud.store.open_store`, on an event loop of its own, and runs one store call at a time
from synchronous test code::

    rows = server.read(lambda store: store.list_outbox())

:func:`snapshot` reads everything the admin API can write, for the "a refused request changes
nothing" checks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec

from cloud.settings import DatabaseSettings
from cloud.store import Store, open_store

T = TypeVar("T")


class StoreReader:
    """A store on ``database``, opened on first use and kept open until :meth:`close`.

    It survives the server's restarts (``kill -9`` included): the database outlives the process.
    """

    def __init__(self, database: DatabaseSettings) -> None:
        # One connection is all a reader needs (PostgreSQL: a pool of at most two).
        self.database = DatabaseSettings(database.url, pool_max=2, pool_min=1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._store: Store | None = None

    def read(self, call: Callable[[Store], Awaitable[T]]) -> T:
        """Run ``call(store)`` to completion and return its result."""
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        if self._store is None:
            self._store = self._loop.run_until_complete(open_store(self.database))
        store = self._store
        return self._loop.run_until_complete(_awaited(call(store)))

    def close(self) -> None:
        if self._loop is None:
            return
        if self._store is not None:
            self._loop.run_until_complete(self._store.close())
            self._store = None
        self._loop.close()
        self._loop = None


async def _awaited(awaitable: Awaitable[T]) -> T:
    return await awaitable


async def snapshot(store: Store) -> dict[str, Any]:
    """Everything the admin API writes, read back through the store, in a comparable form.

    Every user (their record, the view devices mirror: consent, notices, offers, profile,
    aggregates and devices; enrollment codes, the audit trail, the change log, push tokens and
    attempts, credit features), every device with what was kept of each processed mutation,
    every outbox row (state, attempts, error, back-off) and every evaluation. Refresh tokens are
    the one table not read: the admin API writes them only when it revokes a device, in the same
    transaction that marks the device revoked, which the device rows show.
    """
    users = await store.list_users()
    devices = await store.list_devices()
    state: dict[str, Any] = {
        "users": users,
        "devices": devices,
        "outbox": await store.list_outbox(),
        "evaluations": await store.list_evaluations(),
    }
    for user in users:
        user_id = user.user_id
        state[f"user {user_id}"] = {
            "view": await store.user_view(user_id),
            "enrollment_codes": await store.enrollment_codes(user_id),
            "audit": await store.audit_trail(user_id=user_id),
            "change_log": await store.change_log(user_id),
            "push_tokens": await store.push_tokens(user_id),
            "push_attempts": await store.push_attempts(user_id),
            "credit_features": await store.get_credit_features(user_id),
        }
    for device in devices:
        state[f"device {device.device_id}"] = await store.processed_mutations(device.device_id)
    # Plain builtins: a difference reads as a dict diff in pytest's assertion message.
    builtins: dict[str, Any] = msgspec.to_builtins(state)
    return builtins
