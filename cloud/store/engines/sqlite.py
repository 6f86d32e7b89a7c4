"""The SQLite engine of the store (the embedded default), on aiosqlite.

Every store method is one transaction script (:mod:`cloud.store.scripts`) run as ONE call on
aiosqlite's connection thread: a plain function over :class:`SqliteTx`, which wraps the ``sqlite3``
connection, queued through ``Connection._execute`` (the
queueing primitive every public aiosqlite method is built on; aiosqlite 0.20-0.22 offer no
public way to run a caller's function on that thread). Awaiting each statement instead costs a
thread hop and an event-loop wake-up per statement: a sync-shaped transaction measured ~630/s
that way and ~6,000/s as one call.

Write transactions start with ``BEGIN IMMEDIATE`` so the write lock is taken up front; a
deferred transaction that reads and then writes can fail with ``SQLITE_BUSY`` that
``busy_timeout`` cannot retry. WAL lets readers run while a writer commits;
``synchronous=NORMAL`` in WAL mode survives a process kill (only an OS crash can lose the
last transactions).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Final, TypeVar

import aiosqlite

from cloud.domain.offers.rules import AcceptanceRule
from cloud.store.engines.sqlite_checkpoint import DEFAULT_INTERVAL_S as DEFAULT_CHECKPOINT_INTERVAL_S
from cloud.store.engines.sqlite_checkpoint import DEFAULT_WAL_LIMIT_BYTES, WalCheckpointer
from cloud.store.errors import StoreUnavailable
from cloud.store.migrations import MIGRATIONS
from cloud.store.records import OutboxRecord
from cloud.store.tx import Tx
from cloud.store.tx_store import TxStore

T = TypeVar("T")

BUSY_TIMEOUT_MS: Final = 5000
BUSY_RETRY_AFTER_S: Final = 1
"""``Retry-After`` of the ``503 unavailable`` answered when the lock stayed taken past ``busy_timeout``."""


def _split_statements(script: str) -> list[str]:
    """Split a migration into statements (``executescript`` would commit mid-transaction)."""
    statements: list[str] = []
    current: list[str] = []
    for line in script.splitlines(keepends=True):
        current.append(line)
        text = "".join(current)
        if sqlite3.complete_statement(text):
            statements.append(text.strip())
            current = []
    if "".join(current).strip():
        raise ValueError("migration ends with an incomplete statement")
    return statements


def _in_tx(begin: str, fn: Callable[[sqlite3.Connection], T], conn: sqlite3.Connection) -> T:
    conn.execute(begin)
    try:
        result = fn(conn)
        # COMMIT inside the try: a COMMIT that fails (a deferred constraint, SQLITE_BUSY, I/O)
        # leaves the transaction open, and the one shared connection would refuse every later BEGIN.
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return result


def _write_tx(fn: Callable[[sqlite3.Connection], T], conn: sqlite3.Connection, catch_up: bool = False) -> T:
    if catch_up:
        # The WAL passed its bound (sqlite_checkpoint.py): copy what the background checkpoints
        # left while no writer of this process runs, so this write starts the WAL over.
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    return _in_tx("BEGIN IMMEDIATE", fn, conn)


def _read_tx(fn: Callable[[sqlite3.Connection], T], conn: sqlite3.Connection) -> T:
    # A read transaction gives multi-statement reads one consistent snapshot.
    return _in_tx("BEGIN", fn, conn)


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    """SQLITE_BUSY / SQLITE_LOCKED: another connection held the lock past ``busy_timeout``."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    message = str(exc)
    return "database is locked" in message or "database is busy" in message


class SqliteTx:
    """:class:`~cloud.store.tx.Tx` over one ``sqlite3`` connection inside a transaction.

    The scripts' SQL is SQLite's own, so statements pass through unchanged; row locks cost nothing
    because ``BEGIN IMMEDIATE`` already holds the database's one write lock.
    """

    __slots__ = ("_conn", "outbox_written")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.outbox_written: list[OutboxRecord] = []

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self._conn.execute(sql, params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._conn.executemany(sql, rows)

    def lock_device(self, device_id: str) -> None:
        return None

    def lock_user(self, user_id: str) -> None:
        return None


class SqliteStore(TxStore):
    """The embedded store: one SQLite file, one aiosqlite connection."""

    NOW_MS_SQL = "SELECT CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"

    def __init__(
        self,
        path: Path,
        checkpoint_interval_s: float = DEFAULT_CHECKPOINT_INTERVAL_S,
        acceptance: AcceptanceRule | None = None,
        fault_hook: Callable[[str], None] | None = None,
        wal_limit_bytes: int = DEFAULT_WAL_LIMIT_BYTES,
    ) -> None:
        super().__init__(acceptance=acceptance, fault_hook=fault_hook)
        self.path = path
        self._db: aiosqlite.Connection | None = None
        self._wal_limit_bytes = wal_limit_bytes
        self._catch_up = False
        """Set by the checkpointer when the WAL passed its bound; the next write catches up."""
        self.checkpointer = WalCheckpointer(
            path, BUSY_TIMEOUT_MS, checkpoint_interval_s, wal_limit_bytes, self._wal_over_limit
        )

    def _wal_over_limit(self) -> None:
        self._catch_up = True

    async def open(self) -> SqliteStore:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: the sqlite3 module opens no implicit transactions; ours are explicit.
        self._db = await aiosqlite.connect(self.path, isolation_level=None)
        await self._run(self._configure)
        await self._run(lambda conn: conn.execute(f"PRAGMA journal_size_limit = {self._wal_limit_bytes}"))
        await self.checkpointer.start()
        return self

    @staticmethod
    def _configure(conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        # Checkpoints run on their own connection (sqlite_checkpoint.py), never inside a request.
        conn.execute("PRAGMA wal_autocheckpoint = 0")

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` on the connection's thread as one queued call."""
        db = self._db
        if db is None:
            raise RuntimeError("store is not open")
        # ``_execute`` is untyped in aiosqlite; binding it first keeps the call itself typed.
        execute: Callable[..., Awaitable[T]] = db._execute
        try:
            return await execute(fn, db._conn)
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                # Another process (a second API worker, an operator's sqlite3 shell) held the
                # write lock for all of busy_timeout: a temporary condition, not a server fault.
                raise StoreUnavailable(
                    "database busy, retry later", retry_after_s=BUSY_RETRY_AFTER_S
                ) from exc
            raise

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        catch_up, self._catch_up = self._catch_up, False
        return await self._run(lambda conn: _write_tx(fn, conn, catch_up))

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._run(lambda conn: _read_tx(fn, conn))

    # --- lifecycle -------------------------------------------------------------------

    async def migrate(self) -> list[str]:
        def tx(conn: sqlite3.Connection) -> list[str]:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations"
                " (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            done = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
            applied: list[str] = []
            for migration in MIGRATIONS:
                if migration.name in done:
                    continue
                for statement in _split_statements(migration.sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (name, applied_at) VALUES (?, datetime('now'))",
                    (migration.name,),
                )
                applied.append(migration.name)
            return applied

        # One write transaction: two processes starting at once apply each migration once.
        return await self._write(tx)

    async def close(self) -> None:
        await self.checkpointer.stop()
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def ping(self) -> None:
        await self._run(lambda conn: conn.execute("SELECT 1").fetchone())

    async def _write_tx(self, fn: Callable[[Tx], T]) -> T:
        return await self._write(lambda conn: fn(SqliteTx(conn)))

    async def _read_tx(self, fn: Callable[[Tx], T]) -> T:
        return await self._read(lambda conn: fn(SqliteTx(conn)))

    async def _query(self, fn: Callable[[Tx], T]) -> T:
        return await self._run(lambda conn: fn(SqliteTx(conn)))


async def open_sqlite_store(
    path: Path,
    *,
    acceptance: AcceptanceRule | None = None,
    fault_hook: Callable[[str], None] | None = None,
    wal_limit_bytes: int = DEFAULT_WAL_LIMIT_BYTES,
) -> SqliteStore:
    """Open (creating if needed) the SQLite store at ``path``; call ``migrate()`` next.

    ``acceptance`` is the offline-acceptance rule (default :class:`AcceptanceRule`); ``fault_hook``
    is for fault tests only (:mod:`cloud.faults`); the WAL is kept near ``wal_limit_bytes``
    (:mod:`cloud.store.engines.sqlite_checkpoint`).
    """
    store = SqliteStore(path, acceptance=acceptance, fault_hook=fault_hook, wal_limit_bytes=wal_limit_bytes)
    return await store.open()
