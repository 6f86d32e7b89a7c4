"""WAL checkpoints off the request path.

SQLite's automatic checkpoint runs inside whichever commit pushes the WAL past 1,000 pages:
that commit then copies the WAL into the database file and fsyncs it, and every request
queued behind it on the store's single connection waits. Measured with ``make bench`` (one
device, 10 aggregates per request): every ~77th sync took 5-7 ms in the store instead of
~0.3 ms, which set the p99. The store therefore turns the automatic checkpoint off and this
task runs a ``PASSIVE`` checkpoint on a connection (and thread) of its own, which never
blocks writers or readers.

A passive checkpoint alone does not bound the WAL under sustained writes: it copies the frames
that existed when it began, new ones arrive meanwhile, and SQLite starts the WAL over from its
beginning only once every frame was copied. Measured before the bound: the WAL reached 0.8-0.96 GB
under sustained sync load and was never truncated. So when the WAL file is larger than
``wal_limit_bytes`` the next checkpoint is a ``TRUNCATE`` one: it waits (up to ``busy_timeout``)
for the writer in progress, holds off the next one while it copies the rest, and leaves the WAL
empty. The cost is that one stall, bounded by the frames a limit's worth of WAL holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
from pathlib import Path
from typing import Final

import aiosqlite

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL_S: Final = 1.0
DEFAULT_WAL_LIMIT_BYTES: Final = 64 * 1024 * 1024


class WalCheckpointer:
    """Runs ``PRAGMA wal_checkpoint(PASSIVE)`` every ``interval_s`` until stopped, and a
    ``TRUNCATE`` one instead whenever the WAL file is above ``wal_limit_bytes``."""

    def __init__(
        self,
        path: Path,
        busy_timeout_ms: int,
        interval_s: float = DEFAULT_INTERVAL_S,
        wal_limit_bytes: int = DEFAULT_WAL_LIMIT_BYTES,
    ) -> None:
        self._path = path
        self._wal_path = Path(f"{path}-wal")
        self._busy_timeout_ms = busy_timeout_ms
        self._interval_s = interval_s
        self._wal_limit_bytes = wal_limit_bytes
        self._conn: aiosqlite.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self.runs = 0
        """Checkpoints completed so far (for operators' diagnostics and tests)."""
        self.truncations = 0
        """``TRUNCATE`` checkpoints that emptied the WAL because it had passed its limit."""
        self.max_wal_bytes = 0
        """The largest WAL size a checkpoint found."""

    def wal_bytes(self) -> int:
        """The WAL file's size now (0 when there is none)."""
        try:
            return os.stat(self._wal_path).st_size
        except FileNotFoundError:
            return 0

    async def start(self) -> None:
        self._conn = await aiosqlite.connect(self._path, isolation_level=None)
        await self._conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
        self._task = asyncio.create_task(self._loop(self._conn), name="sqlite-wal-checkpoint")

    async def checkpoint(self) -> None:
        """One checkpoint now: ``TRUNCATE`` when the WAL is above its limit, else passive."""
        if self._conn is None:
            raise RuntimeError("checkpointer is not started")
        size = self.wal_bytes()
        self.max_wal_bytes = max(self.max_wal_bytes, size)
        mode = "TRUNCATE" if size > self._wal_limit_bytes else "PASSIVE"
        async with self._conn.execute(f"PRAGMA wal_checkpoint({mode})") as cursor:
            row = await cursor.fetchone()
        self.runs += 1
        if mode == "TRUNCATE":
            if row is not None and row[0]:
                # Another connection held the lock past busy_timeout: the next run tries again.
                logger.warning("WAL of %d bytes is above its limit and could not be truncated yet", size)
            else:
                self.truncations += 1

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
