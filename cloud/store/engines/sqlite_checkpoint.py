"""WAL checkpoints off the request path, and a WAL that stays bounded under sustained writes.

SQLite's automatic checkpoint runs inside whichever commit pushes the WAL past 1,000 pages:
that commit then copies the WAL into the database file and fsyncs it, and every request
queued behind it on the store's single connection waits. Measured with ``make bench`` (one
device, 10 aggregates per request): every ~77th sync took 5-7 ms in the store instead of
~0.3 ms, which set the p99. The store therefore turns the automatic checkpoint off and this
task runs a ``PASSIVE`` checkpoint every ``interval_s`` on a connection (and thread) of its own,
which never blocks writers or readers.

A background passive checkpoint alone does not bound the WAL: it copies the frames that existed
when it began, the writer appends more meanwhile, and SQLite starts the WAL over from its beginning
only when a writer finds every frame copied. Under sustained sync load the WAL grew to 0.8-0.96 GB
and was never truncated. A ``TRUNCATE`` checkpoint from this connection is no cure: it must win
the write lock from a writer that takes it back at once, and waited 0.4-6 s for it (measured
with a writer committing 10 rows per transaction as fast as it could). So when the WAL holds more
than ``wal_limit_bytes`` of frames, this task asks the store to catch up itself
(``on_over_limit``): the store runs one ``PASSIVE`` checkpoint on its own connection before its
next write. No writer of this process runs meanwhile, so that checkpoint copies the few frames
the background ones left, the write that follows starts the WAL over, and ``journal_size_limit``
(set to the same bound on the store's connection) cuts the file back to it. Measured with the
same writer: the WAL file peaked at 112 MB for a 64 MB bound, and the catch-up cost one write at
most 23 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Final

import aiosqlite

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL_S: Final = 0.1
DEFAULT_WAL_LIMIT_BYTES: Final = 64 * 1024 * 1024


class WalCheckpointer:
    """Runs ``PRAGMA wal_checkpoint(PASSIVE)`` every ``interval_s`` until stopped, and calls
    ``on_over_limit`` whenever the WAL then holds more than ``wal_limit_bytes`` of frames."""

    def __init__(
        self,
        path: Path,
        busy_timeout_ms: int,
        interval_s: float = DEFAULT_INTERVAL_S,
        wal_limit_bytes: int = DEFAULT_WAL_LIMIT_BYTES,
        on_over_limit: Callable[[], None] | None = None,
    ) -> None:
        self._path = path
        self._wal_path = Path(f"{path}-wal")
        self._busy_timeout_ms = busy_timeout_ms
        self._interval_s = interval_s
        self._wal_limit_bytes = wal_limit_bytes
        self._on_over_limit = on_over_limit
        self._page_size = 4096
        self._conn: aiosqlite.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self.runs = 0
        """Checkpoints completed so far (for operators' diagnostics and tests)."""
        self.over_limit = 0
        """Checkpoints that found the WAL above its bound and asked the store to catch up."""
        self.max_wal_bytes = 0
        """The largest WAL file a checkpoint found."""

    def wal_bytes(self) -> int:
        """The WAL file's size now (0 when there is none)."""
        try:
            return os.stat(self._wal_path).st_size
        except FileNotFoundError:
            return 0

    async def start(self) -> None:
        self._conn = await aiosqlite.connect(self._path, isolation_level=None)
        await self._conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
        async with self._conn.execute("PRAGMA page_size") as cursor:
            row = await cursor.fetchone()
        if row is not None:
            self._page_size = int(row[0])
        self._task = asyncio.create_task(self._loop(self._conn), name="sqlite-wal-checkpoint")

    async def checkpoint(self) -> None:
        """One passive checkpoint now; past the bound, ask the store to catch up."""
        if self._conn is None:
            raise RuntimeError("checkpointer is not started")
        self.max_wal_bytes = max(self.max_wal_bytes, self.wal_bytes())
        async with self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)") as cursor:
            row = await cursor.fetchone()
        self.runs += 1
        # (busy, frames in the WAL, frames copied); frames are -1 when the file is not in WAL mode.
        if row is not None and int(row[1]) * self._page_size > self._wal_limit_bytes:
            self.over_limit += 1
            if self._on_over_limit is not None:
                self._on_over_limit()

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
