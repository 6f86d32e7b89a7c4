"""The worker's ``apply_offer`` job function and one relay pass, on a real SQLite store."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from cloud.settings import DatabaseSettings, OutboxSettings
from cloud.store.engines.sqlite import open_sqlite_store
from cloud.workers.jobs import InjectedFault, apply_offer, relay_once
from cloud.workers.settings import WorkerSettings
from tests.unit.cloud.offers.test_outbox_dispatch import RecordingQueue
from tests.unit.cloud.offers.test_outbox_sqlite import accepted_offer


def _ctx(store: Any, tmp_path: Path, **outbox: Any) -> dict[str, Any]:
    settings = WorkerSettings(
        redis_url="redis://unused",
        database=DatabaseSettings(f"sqlite:///{tmp_path / 'store.sqlite3'}"),
        outbox=OutboxSettings(**outbox),
    )
    return {"store": store, "worker_settings": settings}


def test_job_run_twice_applies_once(tmp_path: Path) -> None:
    async def run() -> tuple[str, str, list[tuple[str, int]]]:
        store = await open_sqlite_store(tmp_path / "store.sqlite3")
        try:
            outbox_id = await accepted_offer(store)
            ctx = _ctx(store, tmp_path)
            payload = {"outbox_id": outbox_id, "attempt": 0}
            first = await apply_offer(ctx, payload)
            second = await apply_offer(ctx, payload)
            return first, second, [(o.state, o.attempts) for o in await store.list_outbox()]
        finally:
            await store.close()

    assert asyncio.run(run()) == ("applied", "already_done", [("done", 0)])


def test_injected_fault_fails_before_touching_the_store(tmp_path: Path) -> None:
    async def run() -> tuple[str | None, str]:
        store = await open_sqlite_store(tmp_path / "store.sqlite3")
        try:
            outbox_id = await accepted_offer(store)
            with pytest.raises(InjectedFault, match="OUTBOX_FAULT_KINDS"):
                await apply_offer(
                    _ctx(store, tmp_path, fault_kinds=frozenset({"apply_offer"})),
                    {"outbox_id": outbox_id, "attempt": 0},
                )
            offer = await store.get_offer("off_1")
            return (None if offer is None else offer.status), (await store.list_outbox())[0].state
        finally:
            await store.close()

    assert asyncio.run(run()) == ("accepted", "pending")


def test_relay_pass_enqueues_the_next_attempt(tmp_path: Path) -> None:
    queue = RecordingQueue()

    async def run() -> list[int]:
        store = await open_sqlite_store(tmp_path / "store.sqlite3")
        try:
            await accepted_offer(store)
            # The accepted row was written at a fixed past time, so it is long stale now.
            outcome = await relay_once(store, queue, OutboxSettings(relay_timeout_s=1.0))
            return [r.attempts for r in outcome.requeued]
        finally:
            await store.close()

    assert asyncio.run(run()) == [1]
    assert [(name, job_id) for name, _, job_id in queue.calls] == [("apply_offer", "1:1")]


# --- transient failures: arq runs the job again after a back-off ----------------------------------


def test_busy_store_asks_arq_for_a_later_try_with_growing_back_off() -> None:
    from arq.worker import Retry

    from cloud.store.errors import StoreUnavailable as Unavailable
    from cloud.workers.jobs import TRANSIENT_RETRY_CAP_S, retry_transient, transient_retry_delay_s

    calls: list[Any] = []

    async def job(ctx: dict[str, Any], payload: Any) -> str:
        calls.append(payload)
        raise Unavailable("database busy, retry later", retry_after_s=1)

    wrapped = retry_transient(job)
    assert wrapped.__name__ == "job"  # arq registers a job under its function's name
    defers = []
    for job_try in (1, 2, 3, 10):
        with pytest.raises(Retry) as caught:
            asyncio.run(wrapped({"job_try": job_try}, {"n": job_try}))
        defers.append(caught.value.defer_score)
    assert calls == [{"n": 1}, {"n": 2}, {"n": 3}, {"n": 10}]
    assert defers == [round(transient_retry_delay_s(t) * 1000) for t in (1, 2, 3, 10)]
    assert defers[0] < defers[1] < defers[2] < defers[3] == TRANSIENT_RETRY_CAP_S * 1000


def test_other_failures_and_results_pass_through_the_retry_wrapper() -> None:
    from cloud.workers.jobs import retry_transient

    async def ok(ctx: dict[str, Any], payload: Any) -> str:
        return f"done {payload}"

    async def broken(ctx: dict[str, Any]) -> None:
        raise KeyError("not transient")

    assert asyncio.run(retry_transient(ok)({"job_try": 1}, 7)) == "done 7"
    with pytest.raises(KeyError, match="not transient"):
        asyncio.run(retry_transient(broken)({"job_try": 1}))
