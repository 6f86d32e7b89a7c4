"""The SQLite store's transactions: a failed COMMIT leaves the connection usable, and a write lock
held past ``busy_timeout`` is ``503 unavailable`` with ``Retry-After`` rather than a 500."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from litestar.testing import TestClient

from cloud.app import create_app
from cloud.settings import load_settings
from cloud.store.engines import sqlite as sqlite_store
from cloud.store.engines.sqlite import BUSY_RETRY_AFTER_S, SqliteStore, open_sqlite_store
from cloud.store.errors import StoreUnavailable as Unavailable

NOW = 1_700_000_000_000


def _orphan_refresh_token(conn: sqlite3.Connection) -> None:
    # Deferred foreign keys are checked at COMMIT: this statement succeeds and the COMMIT fails.
    conn.execute("PRAGMA defer_foreign_keys = ON")
    conn.execute(
        "INSERT INTO refresh_tokens (token_hash, device_id, issued_at, expires_at)"
        " VALUES ('h', 'dev_missing', 0, 1)"
    )


@contextmanager
def _write_lock(path: Path) -> Iterator[None]:
    """Hold the database's write lock from another connection, as a second process would."""
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        yield
        other.execute("ROLLBACK")
    finally:
        other.close()


async def _opened(path: Path) -> SqliteStore:
    store = await open_sqlite_store(path)
    await store.migrate()
    return store


def test_a_failed_commit_is_rolled_back_and_the_next_transaction_works(tmp_path: Path) -> None:
    async def run() -> None:
        store = await _opened(tmp_path / "db.sqlite3")
        try:
            with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
                await store._write(_orphan_refresh_token)
            assert not await store._run(lambda conn: conn.in_transaction)
            # The failed transaction kept nothing, and later ones begin and commit normally.
            user = await store.create_user("usr_1", None, NOW)
            assert await store.get_user("usr_1") == user
            count = await store._run(
                lambda conn: conn.execute("SELECT count(*) FROM refresh_tokens").fetchone()
            )
            assert count == (0,)
        finally:
            await store.close()

    asyncio.run(run())


def test_a_failed_read_commit_does_not_leave_a_transaction_open(tmp_path: Path) -> None:
    async def run() -> None:
        store = await _opened(tmp_path / "db.sqlite3")
        try:
            # A write inside a read transaction fails at COMMIT just the same.
            with pytest.raises(sqlite3.IntegrityError):
                await store._read(_orphan_refresh_token)
            assert not await store._run(lambda conn: conn.in_transaction)
            await store.create_user("usr_1", None, NOW)
        finally:
            await store.close()

    asyncio.run(run())


def test_a_lock_held_past_busy_timeout_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"

    async def run() -> None:
        store = await _opened(path)
        try:
            await store._run(lambda conn: conn.execute("PRAGMA busy_timeout = 20"))
            with _write_lock(path):
                with pytest.raises(Unavailable) as caught:
                    await store.create_user("usr_1", None, NOW)
                assert caught.value.retry_after_s == BUSY_RETRY_AFTER_S
                # Reads still work under WAL while another connection writes.
                assert await store.get_user("usr_1") is None
            assert not await store._run(lambda conn: conn.in_transaction)
            await store.create_user("usr_1", None, NOW)
        finally:
            await store.close()

    asyncio.run(run())


def test_busy_database_answers_503_problem_with_retry_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_store, "BUSY_TIMEOUT_MS", 20)
    settings = load_settings({"DATA_DIR": str(tmp_path), "ADMIN_TOKEN": "t" * 32})
    headers = {"Authorization": f"Bearer {'t' * 32}"}
    with TestClient(create_app(settings)) as client:
        assert client.post("/v1/admin/users", json={"external_ref": None}, headers=headers).status_code == 201
        with _write_lock(settings.database.sqlite_path):
            response = client.post("/v1/admin/users", json={"external_ref": "x"}, headers=headers)
        assert response.status_code == 503, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.headers["retry-after"] == str(BUSY_RETRY_AFTER_S)
        problem = response.json()
        assert (problem["code"], problem["retry_after_s"]) == ("unavailable", BUSY_RETRY_AFTER_S)
        # The lock is gone: the same request now succeeds.
        assert client.post("/v1/admin/users", json={"external_ref": "x"}, headers=headers).status_code == 201
