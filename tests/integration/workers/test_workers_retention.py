"""The ``retention`` cron job over a real SQLite store: cutoffs from the settings, batches repeated
until one comes back short, every table's rule applied (the rules themselves are conformance-tested
on both engines in ``tests/conformance/test_store_conformance_retention.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cloud.settings import DatabaseSettings, RetentionSettings
from cloud.store import Store, open_store
from cloud.workers import jobs
from cloud.workers.jobs import DAY_MS, retention, retention_cutoffs
from cloud.workers.settings import WorkerSettings
from sync.messages import AckNotice
from tests.conformance.test_store_conformance import aggregate, enrolled, item, sharing, sync

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def database(tmp_path: Path) -> DatabaseSettings:
    return DatabaseSettings(f"sqlite:///{tmp_path / 'cloud.sqlite3'}")


@pytest.fixture
async def store(database: DatabaseSettings) -> AsyncIterator[Store]:
    opened = await open_store(database)
    await opened.migrate()
    try:
        yield opened
    finally:
        await opened.close()


def test_cutoffs_follow_the_settings() -> None:
    now = int(datetime(2026, 3, 10, 12, tzinfo=UTC).timestamp() * 1000)
    settings = RetentionSettings(
        aggregates_days=100, push_attempts_days=20, outbox_days=30, change_log_days=5
    )
    cutoffs = retention_cutoffs(settings, now)
    assert cutoffs.aggregates_before_day == "2025-11-30"
    assert cutoffs.push_attempts_before == now - 20 * DAY_MS
    # A push row stays as long as its attempts would: the longer of the two periods.
    assert cutoffs.outbox_before == now - 30 * DAY_MS
    assert retention_cutoffs(RetentionSettings(outbox_days=7, push_attempts_days=60), now).outbox_before == (
        now - 60 * DAY_MS
    )
    assert (cutoffs.sessions_before, cutoffs.digests_revoked_before) == (now, now - DAY_MS)


async def test_the_job_repeats_batches_until_every_table_is_done(
    store: Store,
    database: DatabaseSettings,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(jobs, "RETENTION_BATCH", 2)
    await sharing(store)
    await enrolled(store)
    today = datetime.now(UTC).date().isoformat()
    old_days = [f"2024-01-0{d}" for d in range(1, 6)]
    pushed = [item(aggregate(seq, day)) for seq, day in enumerate([*old_days, today], start=1)]
    assert [r.status for r in (await sync(store, "dev_1", pushed)).results] == ["applied"] * 6
    await store.append_notice(user_id="usr_1", notice_id="n1", kind="info", title="t", body="b", now=1)
    await sync(store, "dev_1", [item(AckNotice(seq=7, created_at=1, notice_id="n1"))])
    # Users erased long ago, with no device left: their Wipe goes too.
    for user_id in ("usr_a", "usr_b", "usr_c"):
        await store.create_user(user_id, None, 1)
        await store.erase_user(user_id, actor="admin", address=None, now=2)
    ctx: dict[str, Any] = {
        "store": store,
        "worker_settings": WorkerSettings(redis_url="redis://unused", database=database),
    }

    with caplog.at_level("INFO", logger="cloud.workers"):
        total = await retention(ctx)

    assert [a.day for a in (await store.user_view("usr_1")).aggregates] == [today]
    assert [c.type for c in await store.change_log("usr_1")] == ["ConsentState", "Notice"]
    assert [await store.change_log(u) for u in ("usr_a", "usr_b", "usr_c")] == [[], [], []]
    # 5 aggregates, the notice's first change, 3 erased users finished (two batches of 2).
    assert total == 5 + 1 + 3
    assert "5 aggregates" in caplog.text and "1 change_log" in caplog.text
    assert "3 erased users finished" in caplog.text
    assert await retention(ctx) == 0
