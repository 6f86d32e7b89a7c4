"""Offer expiry and outbox operations: the cron schedule, the expiry job's batches, the operator
service (payload summaries, queue depth, paging, retry) and SQLite-only retry refusals."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import msgspec
import pytest

from cloud.domain.offers.errors import OutboxNotRetryable
from cloud.domain.offers.operations import OutboxOperations, payload_summary
from cloud.domain.offers.rules import AcceptanceRule
from cloud.settings import DatabaseSettings, ExpirySettings, cron_fields, load_settings
from cloud.store.engines.sqlite import SqliteStore
from cloud.store.records import OfferTerms
from cloud.workers.jobs import expire_offers
from cloud.workers.settings import WorkerSettings
from tests.unit.cloud.offers.test_outbox_sqlite import accepted_offer

NOW = 1_700_000_000_000


# --- the cron schedule ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("interval_s", "fields"),
    [
        (1, {"second": set(range(60))}),
        (15, {"second": {0, 15, 30, 45}}),
        (60, {"second": {0}}),
        (300, {"minute": set(range(0, 60, 5)), "second": {0}}),
        (3600, {"minute": {0}, "second": {0}}),
        (21_600, {"hour": {0, 6, 12, 18}, "minute": {0}, "second": {0}}),
        (86_400, {"hour": {0}, "minute": {0}, "second": {0}}),
    ],
)
def test_cron_fields(interval_s: int, fields: dict[str, set[int]]) -> None:
    assert cron_fields(interval_s) == fields


@pytest.mark.parametrize("interval_s", [0, -1, 7, 90, 7200 + 60, 5 * 3600, 2 * 86_400])
def test_cron_fields_refuse_intervals_a_clock_cannot_tick(interval_s: int) -> None:
    with pytest.raises(ValueError, match="cron interval"):
        cron_fields(interval_s)


def test_expiry_interval_setting() -> None:
    assert load_settings({}).expiry == ExpirySettings(interval_s=60)
    assert load_settings({"OFFER_EXPIRY_INTERVAL_S": "1"}).expiry.interval_s == 1
    for bad in ("7", "abc", "0"):
        with pytest.raises(ValueError, match="OFFER_EXPIRY_INTERVAL_S"):
            load_settings({"OFFER_EXPIRY_INTERVAL_S": bad})


# --- the expiry job ---------------------------------------------------------------------------


class ClockedStore:
    """The real store with the job's clock pinned: ``expire_offers`` gets ``now`` from here."""

    def __init__(self, store: SqliteStore, now: int) -> None:
        self.store = store
        self.now = now
        self.calls: list[int] = []

    async def expire_offers(self, *, now: int, limit: int) -> Any:
        self.calls.append(limit)
        return await self.store.expire_offers(now=self.now, limit=limit)


def test_expire_job_runs_batches_until_one_comes_back_short(tmp_path: Path) -> None:
    async def run() -> tuple[int, list[int], list[str]]:
        store = await SqliteStore(tmp_path / "s.sqlite3", acceptance=AcceptanceRule(grace_ms=1000)).open()
        try:
            await accepted_offer(store)  # off_1 accepted: never expired
            for n in range(5):
                terms = OfferTerms(
                    offer_id=f"off_x{n}",
                    user_id="usr_1",
                    new_limit_cents=200_000,
                    rate_bps=1_500,
                    term_months=12,
                    expires_at=NOW + 10 + n,
                    reason_codes=[],
                    policy_version="p1",
                )
                await store.create_offer(terms, actor="admin", now=NOW)
            clocked = ClockedStore(store, NOW + 10_000)
            settings = WorkerSettings(
                redis_url="redis://unused",
                database=DatabaseSettings(f"sqlite:///{tmp_path / 's.sqlite3'}"),
                expiry=ExpirySettings(batch=2),
            )
            total = await expire_offers({"store": clocked, "worker_settings": settings})
            statuses = [o.status for o in await store.list_offers("usr_1")]
            return total, clocked.calls, statuses
        finally:
            await store.close()

    total, calls, statuses = asyncio.run(run())
    assert total == 5
    assert calls == [2, 2, 2]  # 2 + 2 + 1: the short third batch ends the run
    assert statuses == ["accepted"] + ["expired"] * 5


# --- the operator service ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "summary"),
    [
        (b'{"offer_id": "off_1"}', {"offer_id": "off_1"}),
        (
            b'{"user_id": "u", "notice_id": "n", "notice_kind": "k", "title": "Hi", "body": "Secret"}',
            {"user_id": "u", "notice_id": "n", "notice_kind": "k"},
        ),
        (
            b'{"n": 3, "ok": true, "none": null, "nested": {"a": 1}, "list": [1]}',
            {"n": 3, "ok": True, "none": None},
        ),
        (b'{"long": "' + b"x" * 300 + b'"}', {"long": "x" * 128}),
        (b"[1, 2]", {"undecodable": True}),
        (b"\xff\x00", {"undecodable": True}),
    ],
)
def test_payload_summary(payload: bytes, summary: dict[str, object]) -> None:
    assert payload_summary(payload) == summary


class FakeQueue:
    """The queue seam: Redis itself is outside these unit tests (integration tests use it)."""

    queue_name = "q"

    def __init__(self, depth: int | Exception = 0, enqueue_error: Exception | None = None) -> None:
        self._depth = depth
        self._enqueue_error = enqueue_error
        self.enqueued: list[tuple[str, object, str | None]] = []

    async def depth(self) -> int:
        if isinstance(self._depth, Exception):
            raise self._depth
        return self._depth

    async def worker_health(self) -> str | None:
        return "j_complete=1 j_failed=0 j_retried=0 j_ongoing=0 queued=3"

    async def enqueue(self, function_name: str, payload: object, job_id: str | None = None) -> str | None:
        if self._enqueue_error is not None:
            raise self._enqueue_error
        self.enqueued.append((function_name, msgspec.to_builtins(payload), job_id))
        return job_id


def with_store(tmp_path: Path, body: Any) -> Any:
    async def run() -> Any:
        store = await SqliteStore(tmp_path / "s.sqlite3").open()
        try:
            return await body(store)
        finally:
            await store.close()

    return asyncio.run(run())


def test_stats_report_queue_depth_or_why_not(tmp_path: Path) -> None:
    async def body(store: SqliteStore) -> list[Any]:
        await accepted_offer(store)  # one pending apply_offer row created at NOW + 1
        clock = lambda: NOW + 501  # noqa: E731
        return [
            await OutboxOperations(store, FakeQueue(depth=3), "q", clock).stats(),
            await OutboxOperations(store, FakeQueue(depth=ConnectionError("down")), "q", clock).stats(),
            await OutboxOperations(store, None, "q", clock).stats(),
        ]

    live, broken, absent = with_store(tmp_path, body)
    assert [(c.kind, c.state, c.count) for c in live.counts] == [("apply_offer", "pending", 1)]
    assert live.oldest_pending_age_ms == 500
    assert (live.queue.name, live.queue.depth, live.queue.reason) == ("q", 3, None)
    assert live.queue.worker_health is not None and "queued=3" in live.queue.worker_health
    assert (broken.queue.depth, broken.queue.reason) == (None, "Redis error: ConnectionError")
    assert (
        absent.queue.depth is None and absent.queue.reason is not None and "REDIS_URL" in absent.queue.reason
    )


def dead_rows(store: SqliteStore, n: int) -> Any:
    """``n`` dead ``send_push`` rows written straight into the table (no consent flow needed)."""

    def write(conn: sqlite3.Connection) -> None:
        for i in range(n):
            conn.execute(
                "INSERT INTO outbox (kind, payload, state, attempts, created_at, updated_at, last_error)"
                " VALUES ('send_push', ?, 'dead', 4, ?, ?, 'not done after 5 attempts')",
                (msgspec.json.encode({"user_id": "usr_1", "title": "t"}), NOW + i, NOW + 100 + i),
            )

    return store._write(write)


def test_dead_letter_pages_and_retry_enqueues_the_new_attempt(tmp_path: Path) -> None:
    queue = FakeQueue()

    async def body(store: SqliteStore) -> list[Any]:
        await store.migrate()
        await dead_rows(store, 3)
        ops = OutboxOperations(store, queue, "q", lambda: NOW + 1000)
        first = await ops.dead_letters(limit=2, after_id=0)
        last = await ops.dead_letters(limit=2, after_id=first.next_after_id or 0)
        retried = await ops.retry(first.items[0].outbox_id)
        failing = OutboxOperations(store, FakeQueue(enqueue_error=ConnectionError("down")), "q")
        not_enqueued = await failing.retry(first.items[1].outbox_id)
        return [first, last, retried, not_enqueued]

    first, last, retried, not_enqueued = with_store(tmp_path, body)
    assert [d.outbox_id for d in first.items] == [1, 2] and first.next_after_id == 2
    assert [d.outbox_id for d in last.items] == [3] and last.next_after_id is None
    item = first.items[0]
    assert (item.kind, item.attempts, item.payload, item.dead_at) == (
        "send_push",
        4,
        {"user_id": "usr_1"},
        NOW + 100,
    )
    assert (retried.state, retried.attempt, retried.enqueued) == ("pending", 5, True)
    assert queue.enqueued == [("send_push", {"outbox_id": 1, "attempt": 5}, "1:5")]
    # Redis away: the row is pending all the same, and the relay will enqueue it.
    assert (not_enqueued.state, not_enqueued.attempt, not_enqueued.enqueued) == ("pending", 5, False)


def test_dead_apply_row_naming_no_offer_is_not_retryable(tmp_path: Path) -> None:
    async def body(store: SqliteStore) -> None:
        await store.migrate()

        def write(conn: sqlite3.Connection) -> None:
            for payload in (b'{"offer_id": "off_gone"}', b"{}"):
                conn.execute(
                    "INSERT INTO outbox (kind, payload, state, attempts, created_at, updated_at)"
                    " VALUES ('apply_offer', ?, 'dead', 4, ?, ?)",
                    (payload, NOW, NOW),
                )

        await store._write(write)
        for outbox_id in (1, 2):
            with pytest.raises(OutboxNotRetryable, match="names no offer"):
                await store.retry_dead(outbox_id, now=NOW + 1)

    with_store(tmp_path, body)
    with closing(sqlite3.connect(tmp_path / "s.sqlite3")) as conn:
        assert list(conn.execute("SELECT state, attempts, first_attempt FROM outbox")) == [("dead", 4, 0)] * 2


def test_dead_apply_row_of_a_still_accepted_offer_is_retried(tmp_path: Path) -> None:
    """A dead row whose offer is still ``accepted`` (a row dead-lettered before its offer could be
    failed, e.g. by an operator's repair) gets its new round and is then applied."""

    async def body(store: SqliteStore) -> tuple[str, str]:
        outbox_id = await accepted_offer(store)

        def kill(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE outbox SET state = 'dead', attempts = 4 WHERE outbox_id = ?", (outbox_id,))

        await store._write(kill)
        retried = await store.retry_dead(outbox_id, now=NOW + 10)
        applied = await store.apply_offer(outbox_id, ref=f"job:{outbox_id}:{retried.attempts}", now=NOW + 20)
        offer = await store.get_offer("off_1")
        assert offer is not None
        return applied.value, offer.status

    assert with_store(tmp_path, body) == ("applied", "applied")
