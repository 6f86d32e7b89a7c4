"""Without Firebase credentials pushes go to the database; the dead-letter notice is pushed too."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from cloud.outbox.kinds import SEND_PUSH
from cloud.push.log_sender import LogPushSender
from cloud.push.senders import build_sender
from cloud.settings import DatabaseSettings, OutboxSettings, PushSettings, load_settings
from cloud.store.engines.sqlite import open_sqlite_store
from cloud.workers.jobs import apply_offer, send_push
from cloud.workers.settings import WorkerSettings
from tests.integration.push.conftest import TOKEN, accepted_with_token
from tests.unit.cloud.offers.test_outbox_dispatch import RecordingQueue


def _ctx(store: Any, tmp_path: Path, sender: Any) -> dict[str, Any]:
    settings = WorkerSettings(
        redis_url="redis://unused",
        database=DatabaseSettings(f"sqlite:///{tmp_path / 'store.sqlite3'}"),
        outbox=OutboxSettings(),
    )
    return {"store": store, "worker_settings": settings, "push_sender": sender, "queue": RecordingQueue()}


def test_push_settings_come_from_the_environment() -> None:
    settings = load_settings(
        {"FCM_CREDENTIALS_FILE": "sa.json", "FCM_PROJECT_ID": "p1", "FCM_ENDPOINT": "http://127.0.0.1:9"}
    )
    assert settings.push == PushSettings(
        credentials_file=Path("sa.json"), project_id="p1", endpoint="http://127.0.0.1:9"
    )
    assert load_settings({}).push == PushSettings()


def test_log_sender_is_the_default_and_records_the_push(tmp_path: Path) -> None:
    sender = build_sender(PushSettings())
    assert isinstance(sender, LogPushSender)

    async def run() -> tuple[str, list[Any]]:
        store = await open_sqlite_store(tmp_path / "store.sqlite3")
        try:
            outbox_id = await accepted_with_token(store, consent=True)
            ctx = _ctx(store, tmp_path, sender)
            await apply_offer(ctx, {"outbox_id": outbox_id, "attempt": 0})
            (row,) = [r for r in await store.list_outbox() if r.kind == SEND_PUSH]
            outcome = await send_push(ctx, {"outbox_id": row.outbox_id, "attempt": 0})
            return outcome, await store.push_attempts("usr_1")
        finally:
            await sender.close()
            await store.close()

    outcome, attempts = asyncio.run(run())
    assert outcome == "done"
    (attempt,) = attempts
    assert (attempt.sender, attempt.outcome, attempt.token) == ("log", "sent", TOKEN)
    assert (attempt.message["title"], attempt.message["body"]) == (
        "You have an update",
        "Open the app to see it.",
    )
    assert attempt.message["data"] == {
        "type": "notice",
        "notice_id": "limit_applied:off_1",
        "kind": "limit_applied",
    }


def test_dead_letter_queues_the_acceptance_failed_push_for_the_relay(tmp_path: Path) -> None:
    async def run() -> tuple[list[int], list[tuple[str, int]], str]:
        store = await open_sqlite_store(tmp_path / "store.sqlite3")
        try:
            await accepted_with_token(store, consent=True)
            relay = await store.relay_outbox(now=2**62, timeout_ms=0, max_attempts=1)
            (push,) = relay.requeued
            ctx = _ctx(store, tmp_path, LogPushSender())
            outcome = await send_push(ctx, {"outbox_id": push.outbox_id, "attempt": push.attempts})
            (attempt,) = await store.push_attempts("usr_1")
            assert attempt.message["data"] == {
                "type": "notice",
                "notice_id": "acceptance_failed:off_1",
                "kind": "acceptance_failed",
            }
            return relay.dead, [(r.kind, r.attempts) for r in relay.requeued], outcome
        finally:
            await store.close()

    dead, requeued, outcome = asyncio.run(run())
    assert len(dead) == 1
    assert requeued == [(SEND_PUSH, 0)]
    assert outcome == "done"
