"""WAL checkpoints off the request path.

SQLite's automatic checkpoint runs inside whichever commit pushes the WAL past 1,000 pages:
that commit then copies the WAL into the database file and fsyncs it, and every request
queued behind it on the store's single connection waits. Measured with ``make bench`` (one
device, 10 aggregates per request): every ~77th sync took 5-7 ms in the store instead of
~0.3 ms, which set the p99. The store therefore turns the automatic checkpoint off and this
task runs a ``PASSIVE`` checkpoint on a connection (and thread) of its own, which never
blocks writers or readers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from pathlib import Path
from typing import Final

import aiosqlite

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL_S: Final = 1.0


class WalCheckpointer:
    """Runs ``PRAGMA wal_checkpoint(PASSIVE)`` every ``interval_s`` until stopped."""

    def __init__(self, path: Path, busy_timeout_ms: int, interval_s: float = DEFAULT_INTERVAL_S) -> None:
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._interval_s = interval_s
        self._conn: aiosqlite.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self.runs = 0
        """Checkpoints completed so far (for operators' diagnostics and tests)."""

    async def start(self) -> None:
        self._conn = await aiosqlite.connect(self._path, isolation_level=None)
        await self._conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
        self._task = asyncio.create_task(self._loop(self._conn), name="sqlite-wal-checkpoint")

    async def checkpoint(self) -> None:
        """One passive checkpoint now."""
        if self._conn is None:
            raise RuntimeError("checkpointer is not started")
        await self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        self.runs += 1

    async def _loop(self, conn: aiosqlite.Connection) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self.checkpoint()
            except sqlite3.Error:
                # A busy or failing checkpoint leaves the WAL longer for a while; the next one catches up.
                logger.warning("WAL checkpoint failed; retrying in %.1f s", self._interval_s, exc_info=True)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                await self.checkpoint()
            await self._conn.close()
            self._conn = None
