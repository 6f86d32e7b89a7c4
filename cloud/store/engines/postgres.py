"""The PostgreSQL engine of the store (scale-out: several API and worker processes), on psycopg 3.

The transaction scripts are synchronous (:mod:`cloud.store.tx`), so this engine runs each one on a
connection from a ``psycopg_pool.ConnectionPool`` in a worker thread (``asyncio.to_thread``): one
code path for both engines. asyncpg would have needed an async copy of every script.

Concurrency, as the scripts rely on it:

- Isolation is ``READ COMMITTED`` (PostgreSQL's default); what a script reads and then changes is
  guarded by row locks instead. A script locks the device's row, then the user's
  (``SELECT … FOR UPDATE``, always in that order, :meth:`PgTx.lock_device` / :meth:`PgTx.lock_user`)
  before it reads user-scoped state, so two requests of one device, or of one user's devices, run
  one after the other; change-log versions come from the locked user row (``UPDATE … RETURNING``),
  never a sequence, so they commit in order.
- State transitions are conditional (``UPDATE … WHERE status = …``) on the locked rows.
- A deadlock or serialization failure (SQLSTATE 40P01 / 40001) rolls the transaction back and
  runs it again, up to :data:`MAX_TX_ATTEMPTS` times; then the caller gets ``503`` with
  ``Retry-After`` (:class:`cloud.store.errors.StoreUnavailable`), like a busy SQLite database.
- Migrations run in one transaction under an advisory lock, so processes starting at once apply
  each migration once.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg_pool import ConnectionPool

from cloud.domain.offers.rules import AcceptanceRule
from cloud.store.errors import StoreUnavailable, TextNotStorable
from cloud.store.migrations import MIGRATIONS, postgres_sql
from cloud.store.records import OutboxRecord
from cloud.store.tx import Tx
from cloud.store.tx_store import TxStore

logger = logging.getLogger(__name__)

T = TypeVar("T")

MAX_TX_ATTEMPTS: Final = 5
"""Runs of one transaction before a deadlock or serialization failure becomes ``503``."""
RETRY_AFTER_S: Final = 1
"""``Retry-After`` of the ``503 unavailable`` answered when a transaction could not complete."""
POOL_TIMEOUT_S: Final = 10.0
"""Longest wait for a pooled connection before the request is answered ``503``."""
MIGRATION_LOCK_KEY: Final = 0x6563_6D69_6772  # "ecmigr": one key for every process of a deployment

_RETRIED: Final = (pg_errors.DeadlockDetected, pg_errors.SerializationFailure)


@functools.lru_cache(maxsize=1024)
def to_pyformat(sql: str) -> str:
    """The scripts' ``?`` placeholders as psycopg's ``%s`` (a literal ``%`` doubled).

    The scripts' SQL holds no ``?`` inside string literals, so a plain replacement is exact.
    """
    return sql.replace("%", "%%").replace("?", "%s")


class PgTx:
    """:class:`~cloud.store.tx.Tx` over one psycopg connection inside a transaction."""

    __slots__ = ("_conn", "outbox_written")

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn
        self.outbox_written: list[OutboxRecord] = []

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor[Any]:
        return self._conn.execute(to_pyformat(sql), tuple(params))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self._conn.cursor() as cursor:
            cursor.executemany(to_pyformat(sql), [tuple(row) for row in rows])

    def lock_device(self, device_id: str) -> None:
        self._conn.execute("SELECT 1 FROM devices WHERE device_id = %s FOR UPDATE", (device_id,))

    def lock_user(self, user_id: str) -> None:
        self._conn.execute("SELECT 1 FROM users WHERE user_id = %s FOR UPDATE", (user_id,))


class PostgresStore(TxStore):
    """The scale-out store: a PostgreSQL database, a pool of connections per process."""

    NOW_MS_SQL = "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"

    def __init__(
        self,
        url: str,
        *,
        pool_min: int = 1,
        pool_max: int = 8,
        acceptance: AcceptanceRule | None = None,
        fault_hook: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(acceptance=acceptance, fault_hook=fault_hook)
        self.url = url
        # Autocommit connections: ``conn.transaction()`` then opens a real transaction (BEGIN), not
        # a savepoint inside one the driver began implicitly.
        self._pool = ConnectionPool(
            url,
            min_size=pool_min,
            max_size=pool_max,
            open=False,
            timeout=POOL_TIMEOUT_S,
            name="ec-store",
            kwargs={"autocommit": True},
        )

    async def open(self) -> PostgresStore:
        await asyncio.to_thread(self._pool.open, wait=True, timeout=POOL_TIMEOUT_S)
        return self

    async def close(self) -> None:
        await asyncio.to_thread(self._pool.close)

    def _in_tx(self, fn: Callable[[Tx], T], *, read_only: bool, transaction: bool = True) -> T:
        """Run ``fn`` in one transaction on a pooled connection, again after a deadlock."""
        for attempt in range(1, MAX_TX_ATTEMPTS + 1):
            try:
                with self._pool.connection() as conn:
                    if not transaction:
                        return fn(PgTx(conn))
                    with conn.transaction():
                        if read_only:
                            # One snapshot for every read of the script.
                            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                        return fn(PgTx(conn))
            except _RETRIED as exc:
                if attempt == MAX_TX_ATTEMPTS:
                    raise StoreUnavailable(
                        "database contention, retry later", retry_after_s=RETRY_AFTER_S
                    ) from exc
                logger.info("transaction attempt %d: %s; running it again", attempt, type(exc).__name__)
                time.sleep(0.005 * attempt)
            except psycopg.DataError as exc:
                if "NUL" not in str(exc):
                    raise
                # PostgreSQL's text cannot hold a NUL character (SQLite's can): the input is
                # refused, as any other value the store cannot take, never a 500.
                raise TextNotStorable("text may not contain NUL (0x00) characters") from exc
            except psycopg.OperationalError as exc:
                # The server went away or the pool had no connection in time: a temporary condition.
                raise StoreUnavailable(
                    "database unavailable, retry later", retry_after_s=RETRY_AFTER_S
                ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def _write_tx(self, fn: Callable[[Tx], T]) -> T:
        return await asyncio.to_thread(self._in_tx, fn, read_only=False)

    async def _read_tx(self, fn: Callable[[Tx], T]) -> T:
        return await asyncio.to_thread(self._in_tx, fn, read_only=True)

    async def _query(self, fn: Callable[[Tx], T]) -> T:
        return await asyncio.to_thread(self._in_tx, fn, read_only=True, transaction=False)

    async def ping(self) -> None:
        def ping() -> None:
            with self._pool.connection() as conn:
                conn.execute("SELECT 1").fetchone()

        await asyncio.to_thread(ping)

    async def migrate(self) -> list[str]:
        def migrate() -> list[str]:
            with self._pool.connection() as conn, conn.transaction():
                # Every process starting at once waits here; the first applies, the rest find it done.
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations"
                    " (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
                )
                done = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
                applied: list[str] = []
                for migration in MIGRATIONS:
                    if migration.name in done:
                        continue
                    # One simple-protocol call per migration: several statements, function bodies
                    # with their own semicolons included.
                    conn.execute(postgres_sql(migration))
                    conn.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (migration.name,))
                    applied.append(migration.name)
                return applied

        return await asyncio.to_thread(migrate)


async def open_postgres_store(
    url: str,
    *,
    pool_min: int = 1,
    pool_max: int = 8,
    acceptance: AcceptanceRule | None = None,
    fault_hook: Callable[[str], None] | None = None,
) -> PostgresStore:
    """Open a pool on the PostgreSQL database at ``url``; call ``migrate()`` next."""
    store = PostgresStore(
        url, pool_min=pool_min, pool_max=pool_max, acceptance=acceptance, fault_hook=fault_hook
    )
    return await store.open()
