"""The SQLite audit table refuses to be rewritten: no UPDATE, no DELETE."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from cloud.store.engines.sqlite import open_sqlite_store
from cloud.store.records import ProfileRecord


def test_offer_audit_is_append_only(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"

    async def seed() -> None:
        store = await open_sqlite_store(path)
        try:
            await store.migrate()
            await store.create_user("usr_1", None, 1)
            profile = ProfileRecord(
                user_id="usr_1", currency="EUR", limit_cents=100, used_cents=0, rate_bps=10, updated_at=2
            )
            await store.set_profile(profile, actor="admin", reason_code="profile_set")
        finally:
            await store.close()

    asyncio.run(seed())
    with closing(sqlite3.connect(path)) as conn:
        for statement in ("UPDATE offer_audit SET actor = 'someone'", "DELETE FROM offer_audit"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(statement)
        assert conn.execute("SELECT actor, reason_code FROM offer_audit").fetchall() == [
            ("admin", "profile_set")
        ]
