"""The ``send_push`` job through the real firebase-admin code, against a fake FCM v1 server.

The worker's job functions run in-process on a real SQLite store; the sender is the real
:class:`FcmPushSender` (``send_each_async``) pointed at the loopback fake through its endpoint
override, with a credential that never contacts Google.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloud.outbox.kinds import SEND_PUSH
from cloud.push.fcm import FcmPushSender
from cloud.push.messages import NOTICE_TTL_S, retry_delay_ms, sync_ping
from cloud.settings import DatabaseSettings, OutboxSettings
from cloud.store.engines.sqlite import SqliteStore, open_sqlite_store
from cloud.store.records import OutboxRecord
from cloud.workers.jobs import apply_offer, send_push
from cloud.workers.settings import WorkerSettings
from sync.messages import ConsentScope, SetConsent
from tests.integration.push.conftest import TOKEN, accepted_with_token, sync_mutations
from tests.support.fake_fcm import FakeFcm, fake_fcm_server, noop_credential
from tests.unit.cloud.offers.test_outbox_dispatch import RecordingQueue
from tests.unit.cloud.offers.test_outbox_sqlite import NOW


@pytest.fixture
def fcm() -> Iterator[FakeFcm]:
    with fake_fcm_server() as fake:
        yield fake


def _ctx(store: SqliteStore, tmp_path: Path, sender: Any, queue: RecordingQueue) -> dict[str, Any]:
    settings = WorkerSettings(
        redis_url="redis://unused",
        database=DatabaseSettings(f"sqlite:///{tmp_path / 'store.sqlite3'}"),
        outbox=OutboxSettings(),
    )
    return {"store": store, "worker_settings": settings, "push_sender": sender, "queue": queue}


def _push_row(rows: list[OutboxRecord]) -> OutboxRecord:
    (row,) = [r for r in rows if r.kind == SEND_PUSH]
    return row


def _token_active(path: Path) -> bool:
    """Whether dev_1's push token is active, read through the store."""

    async def read() -> bool:
        store = await open_sqlite_store(path)
        try:
            [token] = [t for t in await store.push_tokens("usr_1") if t.device_id == "dev_1"]
            return token.active
        finally:
            await store.close()

    return asyncio.run(read())


async def _apply_and_push(
    tmp_path: Path, fcm: FakeFcm, *, consent: bool = True
) -> tuple[SqliteStore, FcmPushSender, dict[str, Any], OutboxRecord, RecordingQueue]:
    store = await open_sqlite_store(tmp_path / "store.sqlite3")
    outbox_id = await accepted_with_token(store, consent=consent)
    sender = FcmPushSender(noop_credential(), "demo-project", fcm.url)
    queue = RecordingQueue()
    ctx = _ctx(store, tmp_path, sender, queue)
    assert await apply_offer(ctx, {"outbox_id": outbox_id, "attempt": 0}) == "applied"
    return store, sender, ctx, _push_row(await store.list_outbox()), queue


def test_limit_applied_notice_is_pushed_with_notification_data_ttl_and_priorities(
    tmp_path: Path, fcm: FakeFcm
) -> None:
    async def run() -> tuple[str, list[Any], list[tuple[str, object, str | None]], str]:
        store, sender, ctx, row, queue = await _apply_and_push(tmp_path, fcm)
        try:
            outcome = await send_push(ctx, {"outbox_id": row.outbox_id, "attempt": 0})
            again = await send_push(ctx, {"outbox_id": row.outbox_id, "attempt": 0})
            attempts = await store.push_attempts("usr_1")
            assert again == "already_done"
            return outcome, attempts, queue.calls, _push_row(await store.list_outbox()).state
        finally:
            await sender.close()
            await store.close()

    outcome, attempts, calls, state = asyncio.run(run())
    assert outcome == "done" and state == "done"
    assert [name for name, _, _ in calls] == [SEND_PUSH]  # the apply job enqueued its push itself
    (sent,) = fcm.sent_to(TOKEN)
    assert fcm.requests[0]["path"] == "/v1/projects/demo-project/messages:send"
    # The lock screen shows no amount: the notice's text arrives by sync.
    assert sent["notification"] == {"title": "You have an update", "body": "Open the app to see it."}
    assert sent["data"] == {"type": "notice", "notice_id": "limit_applied:off_1", "kind": "limit_applied"}
    assert sent["android"] == {"priority": "normal", "ttl": f"{NOTICE_TTL_S}s"}
    assert sent["apns"]["headers"]["apns-priority"] == "10"
    assert int(sent["apns"]["headers"]["apns-expiration"]) > 0
    assert len(fcm.requests) == 1  # the second run sent nothing
    (attempt,) = attempts
    assert (attempt.sender, attempt.outcome, attempt.token, attempt.device_id) == (
        "fcm",
        "sent",
        TOKEN,
        "dev_1",
    )
    assert attempt.message_id is not None and attempt.message_id.startswith("projects/demo-project/messages/")


def test_sync_ping_is_data_only_and_collapsible(fcm: FakeFcm) -> None:
    async def run() -> str:
        sender = FcmPushSender(noop_credential(), "demo-project", fcm.url)
        try:
            (result,) = await sender.send([sync_ping("tok-ping")])
            return result.outcome.value
        finally:
            await sender.close()

    assert asyncio.run(run()) == "sent"
    (sent,) = fcm.sent_to("tok-ping")
    assert "notification" not in sent
    assert sent["data"] == {"type": "sync"}
    assert sent["android"] == {"priority": "normal", "ttl": "3600s", "collapse_key": "sync"}
    assert sent["apns"]["headers"]["apns-priority"] == "5"
    assert sent["apns"]["headers"]["apns-collapse-id"] == "sync"
    assert sent["apns"]["payload"] == {"aps": {"content-available": 1}}


@pytest.mark.parametrize("error", ["UNREGISTERED", "INVALID_ARGUMENT", "SENDER_ID_MISMATCH"])
def test_dead_token_is_deactivated_after_one_request(tmp_path: Path, fcm: FakeFcm, error: str) -> None:
    fcm.fail(TOKEN, error)

    async def run() -> tuple[str, list[Any]]:
        store, sender, ctx, row, _ = await _apply_and_push(tmp_path, fcm)
        try:
            outcome = await send_push(ctx, {"outbox_id": row.outbox_id, "attempt": 0})
            # The relay finds nothing to retry: the row is done.
            relay = await store.relay_outbox(now=2**62, timeout_ms=0, max_attempts=5)
            assert relay.requeued == [] and relay.dead == []
            return outcome, await store.push_attempts("usr_1")
        finally:
            await sender.close()
            await store.close()

    outcome, attempts = asyncio.run(run())
    assert outcome == "done"
    assert len(fcm.requests) == 1
    assert [(a.outcome, a.error_code) for a in attempts] == [("deactivate", error)]
    assert _token_active(tmp_path / "store.sqlite3") is False


def test_quota_exceeded_is_retried_later_then_succeeds(tmp_path: Path, fcm: FakeFcm) -> None:
    fcm.fail(TOKEN, "QUOTA_EXCEEDED", times=1)

    async def run() -> tuple[list[str], list[Any], list[int]]:
        store, sender, ctx, row, _ = await _apply_and_push(tmp_path, fcm)
        try:
            first = await send_push(ctx, {"outbox_id": row.outbox_id, "attempt": 0})
            pending = _push_row(await store.list_outbox())
            # Backing off: a relay pass before the back-off ends takes nothing.
            early = await store.relay_outbox(
                now=pending.updated_at + retry_delay_ms(0) - 1, timeout_ms=0, max_attempts=5
            )
            late = await store.relay_outbox(
                now=pending.updated_at + retry_delay_ms(0), timeout_ms=0, max_attempts=5
            )
            (retry,) = late.requeued
            second = await send_push(ctx, {"outbox_id": retry.outbox_id, "attempt": retry.attempts})
            return [first, second], await store.push_attempts("usr_1"), [len(early.requeued), retry.attempts]
        finally:
            await sender.close()
            await store.close()

    outcomes, attempts, relay = asyncio.run(run())
    assert outcomes == ["pending", "done"]
    assert relay == [0, 1]
    assert [(a.attempt, a.outcome, a.error_code) for a in attempts] == [
        (0, "retry", "QUOTA_EXCEEDED"),
        (1, "sent", None),
    ]
    assert len(fcm.requests) == 2
    assert _token_active(tmp_path / "store.sqlite3") is True


def test_unavailable_is_left_for_a_later_attempt(tmp_path: Path, fcm: FakeFcm) -> None:
    # firebase-admin itself retries a 503 (about 7 s); this is the one test that pays for it.
    fcm.fail(TOKEN, "UNAVAILABLE")

    async def run() -> tuple[str, list[Any], str]:
        store, sender, ctx, row, _ = await _apply_and_push(tmp_path, fcm)
        try:
            outcome = await send_push(ctx, {"outbox_id": row.outbox_id, "attempt": 0})
            return outcome, await store.push_attempts("usr_1"), _push_row(await store.list_outbox()).state
        finally:
            await sender.close()
            await store.close()

    outcome, attempts, state = asyncio.run(run())
    assert (outcome, state) == ("pending", "pending")
    assert [(a.outcome, a.error_code) for a in attempts] == [("retry", "UNAVAILABLE")]
    assert len(fcm.requests) >= 1
    assert _token_active(tmp_path / "store.sqlite3") is True


def test_no_push_without_consent_but_the_notice_is_in_the_change_log(tmp_path: Path, fcm: FakeFcm) -> None:
    async def run() -> tuple[list[str], list[Any], list[str]]:
        store = await open_sqlite_store(tmp_path / "store.sqlite3")
        sender = FcmPushSender(noop_credential(), "demo-project", fcm.url)
        try:
            outbox_id = await accepted_with_token(store, consent=False)
            ctx = _ctx(store, tmp_path, sender, RecordingQueue())
            await apply_offer(ctx, {"outbox_id": outbox_id, "attempt": 0})
            view = await store.user_view("usr_1")
            kinds = [r.kind for r in await store.list_outbox()]
            return kinds, await store.push_attempts("usr_1"), [n.notice_id for n in view.notices]
        finally:
            await sender.close()
            await store.close()

    kinds, attempts, notices = asyncio.run(run())
    assert kinds == ["apply_offer"]
    assert attempts == []
    assert fcm.requests == []
    assert "limit_applied:off_1" in notices


def test_consent_withdrawn_before_the_job_sends_nothing(tmp_path: Path, fcm: FakeFcm) -> None:
    async def run() -> tuple[str, list[Any], str]:
        store, sender, ctx, row, _ = await _apply_and_push(tmp_path, fcm)
        try:
            await sync_mutations(
                store, SetConsent(seq=4, created_at=NOW, scope=ConsentScope.PUSH, granted=False)
            )
            outcome = await send_push(ctx, {"outbox_id": row.outbox_id, "attempt": 0})
            return outcome, await store.push_attempts("usr_1"), _push_row(await store.list_outbox()).state
        finally:
            await sender.close()
            await store.close()

    outcome, attempts, state = asyncio.run(run())
    assert (outcome, attempts, state) == ("no_consent", [], "done")
    assert fcm.requests == []
