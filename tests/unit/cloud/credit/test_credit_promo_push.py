"""``send_push`` honours a deferred announcement's time, and only a promotional one's."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from cloud.outbox.kinds import SEND_PUSH
from cloud.push.log_sender import LogPushSender
from cloud.push.messages import PushOutcome, PushPayload, PushResult, message_for
from cloud.settings import load_settings
from cloud.store import Store
from cloud.store.records import EvaluationState, PushTarget
from cloud.workers.jobs import send_push
from cloud.workers.settings import WorkerSettings
from sync.messages import AcceptOffer, ConsentScope, Platform, RegisterPushToken, SetConsent
from tests.conformance.test_store_conformance import NOW, item, sync
from tests.conformance.test_store_credit_conformance import ready_user, requested, terms

pytestmark = pytest.mark.anyio

FAR = 4_000_000_000_000  # a "not before" far in the future of the real clock the job reads


async def with_push(store: Store) -> dict[str, Any]:
    await ready_user(store)
    await sync(
        store,
        "dev_1",
        [
            item(SetConsent(seq=1, created_at=NOW, scope=ConsentScope.PUSH, granted=True)),
            item(RegisterPushToken(seq=2, created_at=NOW, token="tok-1", platform=Platform.ANDROID)),
        ],
    )
    settings = WorkerSettings.from_settings(load_settings({"REDIS_URL": "redis://127.0.0.1:1"}))
    return {"store": store, "push_sender": LogPushSender(), "worker_settings": settings}


async def test_deferred_announcement_enqueued_early_is_not_sent(store: Store) -> None:
    ctx = await with_push(store)
    inputs = await requested(store)
    announcement = PushPayload(
        user_id="usr_1", notice_id="offer_available:off_1", notice_kind="offer_available", title="t", body="b"
    )
    await store.complete_evaluation(
        inputs.evaluation.outbox_id or 0,
        status=EvaluationState.DONE,
        result=b"{}",
        terms=terms(),
        read=inputs,
        announcement=announcement,
        announce_not_before=FAR,
        actor="worker",
        ref="job:1:0",
        now=NOW + 10,
    )
    announce, ping = [r for r in await store.list_outbox() if r.kind == SEND_PUSH]
    assert await send_push(ctx, {"outbox_id": announce.outbox_id, "attempt": 0}) == "not_yet"
    assert await send_push(ctx, {"outbox_id": ping.outbox_id, "attempt": 0}) == "done"
    attempts = await store.push_attempts("usr_1")
    assert [a.message["data"] for a in attempts] == [{"type": "sync"}]
    [still] = [r for r in await store.list_outbox() if r.outbox_id == announce.outbox_id]
    assert still.state == "pending"


async def test_transactional_push_backing_off_is_sent_when_its_job_runs(store: Store) -> None:
    ctx = await with_push(store)
    await store.create_offer(terms(), actor="admin", now=NOW)
    accepted = await sync(store, "dev_1", [item(AcceptOffer(seq=3, created_at=NOW, offer_id="off_1"))])
    [apply_row] = accepted.outbox
    await store.apply_offer(apply_row.outbox_id, ref="job:a:0", now=NOW + 1)
    [push_row] = await store.outbox_children(apply_row.outbox_id)
    assert msgspec.json.decode(push_row.payload, type=PushPayload).notice_kind == "limit_applied"
    # FCM asked to retry later: the row backs off with a time set on it ...
    payload = msgspec.json.decode(push_row.payload, type=PushPayload)
    target = PushTarget(device_id="dev_1", token="tok-1", platform="android")
    retry = PushResult(token="tok-1", outcome=PushOutcome.RETRY, error_code="UNAVAILABLE")
    state = await store.record_push(
        push_row.outbox_id,
        user_id="usr_1",
        sender="log",
        sent=[(target, message_for(payload, "tok-1"), retry)],
        attempt=push_row.attempts,
        retry_at=FAR,
        now=NOW + 2,
    )
    assert state.value == "pending"
    # ... yet its job, when it runs, sends it: a transactional notice is never held back.
    assert await send_push(ctx, {"outbox_id": push_row.outbox_id, "attempt": 1}) == "done"
    attempts = await store.push_attempts("usr_1")
    assert [(a.outcome, a.message["data"]["kind"]) for a in attempts] == [
        ("retry", "limit_applied"),
        ("sent", "limit_applied"),
    ]


async def test_announcement_of_an_offer_closed_meanwhile_is_finished_unsent(store: Store) -> None:
    """A deferred announcement must not advertise an offer withdrawn while it waited."""
    ctx = await with_push(store)
    inputs = await requested(store)
    announcement = PushPayload(
        user_id="usr_1",
        notice_id="offer_available:off_1",
        notice_kind="offer_available",
        title="t",
        body="b",
        offer_id="off_1",
    )
    await store.complete_evaluation(
        inputs.evaluation.outbox_id or 0,
        status=EvaluationState.DONE,
        result=b"{}",
        terms=terms(),
        read=inputs,
        announcement=announcement,
        announce_not_before=NOW + 20,  # its time has come by the time the job runs
        actor="worker",
        ref="job:1:0",
        now=NOW + 10,
    )
    announce, _ping = [r for r in await store.list_outbox() if r.kind == SEND_PUSH]
    plan = await store.push_plan(announce.outbox_id)
    assert plan is not None and plan.offer_open
    await store.withdraw_offer("off_1", actor="admin", reason_code="customer_in_distress", now=NOW + 15)
    plan = await store.push_plan(announce.outbox_id)
    assert plan is not None and not plan.offer_open and [t.token for t in plan.targets] == ["tok-1"]

    assert await send_push(ctx, {"outbox_id": announce.outbox_id, "attempt": 1}) == "offer_closed"
    assert await store.push_attempts("usr_1") == []
    [finished] = [r for r in await store.list_outbox() if r.outbox_id == announce.outbox_id]
    assert finished.state == "done"
    assert await store.push_plan(announce.outbox_id) is None
