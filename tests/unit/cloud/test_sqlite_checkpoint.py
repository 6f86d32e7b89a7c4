"""WAL checkpoints run in the background, off the request connection.

The request connection has SQLite's automatic checkpoint turned off; without the background
checkpointer the WAL would grow without bound and nothing would reach the database file.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from cloud.store.engines.sqlite import SqliteStore

NOW = 1_700_000_000_000


def _users_in_main_file(path: Path) -> int:
    # immutable=1 reads the database file alone, ignoring the WAL: it sees only what a
    # checkpoint has copied over.
    conn = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM users").fetchone()[0])
    finally:
        conn.close()


def _autocheckpoint(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0])
    finally:
        conn.close()


def test_background_checkpoint_moves_the_wal_into_the_database_file(tmp_path: Path) -> None:
    path = tmp_path / "cloud.sqlite3"

    async def run() -> tuple[int, int, int]:
        store = await SqliteStore(path, checkpoint_interval_s=0.05).open()
        try:
            await store.migrate()
            await store.checkpointer.checkpoint()
            before = _users_in_main_file(path)
            for i in range(20):
                await store.create_user(f"usr_{i}", None, NOW)
            runs_before = store.checkpointer.runs
            for _ in range(100):
                await asyncio.sleep(0.02)
                if store.checkpointer.runs >= runs_before + 2:
                    break
            autocheckpoint = await store._run(
                lambda c: int(c.execute("PRAGMA wal_autocheckpoint").fetchone()[0])
            )
            return before, _users_in_main_file(path), autocheckpoint
        finally:
            await store.close()

    before, after, autocheckpoint = asyncio.run(run())
    assert autocheckpoint == 0  # the request connection never checkpoints inline
    assert (before, after) == (0, 20)


def test_close_stops_the_checkpointer_and_leaves_a_consistent_file(tmp_path: Path) -> None:
    path = tmp_path / "cloud.sqlite3"

    async def run() -> SqliteStore:
        store = await SqliteStore(path, checkpoint_interval_s=3600).open()
        await store.migrate()
        await store.create_user("usr_1", None, NOW)
        await store.close()
        return store

    store = asyncio.run(run())
    assert store.checkpointer.runs >= 1  # the final checkpoint on close
    assert _users_in_main_file(path) == 1
    assert _autocheckpoint(path) == 1000  # a setting of the connection, not of the file


def test_past_its_bound_the_next_write_catches_up_and_the_wal_starts_over(tmp_path: Path) -> None:
    """A passive checkpoint copies frames but the WAL file keeps growing under writes; past the
    bound the store's next write catches the checkpoint up, the WAL starts over and its file is
    cut back to the bound (``journal_size_limit``)."""
    limit = 256 * 1024

    async def run(wal_limit: int) -> tuple[int, int, int, int]:
        path = tmp_path / f"limit-{wal_limit}" / "cloud.sqlite3"
        store = await SqliteStore(path, checkpoint_interval_s=3600, wal_limit_bytes=wal_limit).open()
        try:
            await store.migrate()
            for i in range(300):
                await store.create_user(f"usr_{i}", "x" * 2000, NOW)
            checkpointer = store.checkpointer
            before = checkpointer.wal_bytes()
            await checkpointer.checkpoint()  # background: copies, finds the WAL past its bound
            await store.create_user("usr_next", None, NOW)  # catches up, starts the WAL over
            await store.create_user("usr_last", None, NOW)
            return before, checkpointer.wal_bytes(), checkpointer.over_limit, _users_in_main_file(path)
        finally:
            await store.close()

    before, after, over, users = asyncio.run(run(limit))
    assert before > limit
    assert after <= limit and over == 1
    assert users == 300  # what the checkpoints copied; the last two users are in the WAL
    before, after, over, users = asyncio.run(run(64 * 1024 * 1024))
    assert after >= before > limit  # within its bound the file only grows
    assert (over, users) == (0, 300)
