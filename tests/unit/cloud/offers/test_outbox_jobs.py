"""The worker's ``apply_offer`` job function and one relay pass, on a real SQLite store."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from cloud.settings import DatabaseSettings, OutboxSettings
from cloud.store.sqlite import open_sqlite_store
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
