"""Store conformance: offer expiry, the operators' outbox methods (stats, dead letters, retry) and
the push methods (children, plan, record, skip, attempts). Run per backend by the conftest."""

from __future__ import annotations

import msgspec
import pytest

from cloud.domain.offers.errors import OutboxNotRetryable, OutboxRowNotFound
from cloud.domain.offers.rules import DEFAULT_GRACE_MS
from cloud.outbox.kinds import SEND_PUSH
from cloud.push.messages import PushMessage, PushOutcome, PushPayload, PushResult, message_for
from cloud.store import Store
from cloud.store.records import OutboxCount, OutboxRecord, PushTarget
from sync.messages import (
    AcceptOffer,
    ConsentScope,
    DeclineOffer,
    OfferStatus,
    OfferUpsert,
    Platform,
    RegisterPushToken,
    SetConsent,
)
from tests.conformance.test_store_conformance import (
    NOW,
    accepted,
    changes_of,
    enrolled,
    item,
    sync,
    terms,
    with_offer,
)

pytestmark = pytest.mark.anyio

HOUR = 3_600_000
GRACE = DEFAULT_GRACE_MS
"""The conformance stores are opened with the default acceptance rule."""


# --- expire_offers -----------------------------------------------------------------------------


async def offers_expiring(store: Store, **expiries: int) -> None:
    """usr_1 with a profile and one offer per name, created at NOW, expiring at NOW + the value."""
    for offer_id, after in expiries.items():
        await with_offer(store, offer_id, expires_at=NOW + after)


async def status(store: Store, offer_id: str) -> str:
    offer = await store.get_offer(offer_id)
    assert offer is not None
    return offer.status


async def test_expire_offers_only_beyond_the_grace_period(store: Store) -> None:
    await offers_expiring(store, off_beyond=HOUR, off_edge=2 * HOUR, off_inside=3 * HOUR, off_open=100 * HOUR)
    # Exactly at its expiry an offer is far inside the grace period.
    assert await store.expire_offers(now=NOW + HOUR, limit=100) == []
    # now is exactly off_edge's expiry plus the grace: an acceptance arriving now could still count.
    now = NOW + 2 * HOUR + GRACE
    expired = await store.expire_offers(now=now, limit=100)
    assert [(o.offer_id, o.status, o.updated_at) for o in expired] == [("off_beyond", "expired", now)]
    assert [await status(store, o) for o in ("off_beyond", "off_edge", "off_inside", "off_open")] == [
        "expired",
        "offered",
        "offered",
        "offered",
    ]


async def test_expire_offers_writes_audit_and_upsert(store: Store) -> None:
    await offers_expiring(store, off_1=HOUR)
    before = await changes_of(store)
    now = NOW + HOUR + GRACE + 1
    [expired] = await store.expire_offers(now=now, limit=10)
    trail = await store.audit_trail(offer_id="off_1")
    last = trail[-1]
    assert (last.from_status, last.to_status, last.actor, last.reason_code, last.ref, last.at) == (
        "offered",
        "expired",
        "system",
        "offer_expired",
        "cron:expire_offers",
        now,
    )
    assert last.detail == {"expires_at": NOW + HOUR, "grace_ms": GRACE}
    new = (await changes_of(store))[len(before) :]
    assert len(new) == 1 and isinstance(new[0], OfferUpsert)
    assert new[0].offer.status is OfferStatus.EXPIRED and new[0].offer.updated_at == now
    assert expired == await store.get_offer("off_1")
    # Idempotent: a second run finds nothing and writes nothing.
    version = (await store.user_view("usr_1")).user.version
    assert await store.expire_offers(now=now + 1, limit=10) == []
    assert (await store.user_view("usr_1")).user.version == version
    assert len(await store.audit_trail(offer_id="off_1")) == len(trail)


async def test_expire_offers_leaves_closed_offers_alone(store: Store) -> None:
    await offers_expiring(store, off_acc=HOUR, off_dec=HOUR, off_wd=HOUR, off_live=HOUR)
    await sync(
        store,
        "dev_1",
        [
            item(AcceptOffer(seq=1, created_at=NOW, offer_id="off_acc")),
            item(DeclineOffer(seq=2, created_at=NOW, offer_id="off_dec")),
        ],
    )
    await store.withdraw_offer("off_wd", actor="admin", reason_code="withdrawn", now=NOW + 2)
    before = {o: await store.audit_trail(offer_id=o) for o in ("off_acc", "off_dec", "off_wd")}
    expired = await store.expire_offers(now=NOW + HOUR + GRACE + 1, limit=10)
    assert [o.offer_id for o in expired] == ["off_live"]
    assert [await status(store, o) for o in ("off_acc", "off_dec", "off_wd")] == [
        "accepted",
        "declined",
        "withdrawn",
    ]
    assert {o: await store.audit_trail(offer_id=o) for o in before} == before


async def test_expire_offers_respects_the_limit_oldest_first(store: Store) -> None:
    await offers_expiring(store, off_c=3 * HOUR, off_a=HOUR, off_b=2 * HOUR)
    now = NOW + 3 * HOUR + GRACE + 1
    assert [o.offer_id for o in await store.expire_offers(now=now, limit=2)] == ["off_a", "off_b"]
    assert await status(store, "off_c") == "offered"
    assert [o.offer_id for o in await store.expire_offers(now=now, limit=2)] == ["off_c"]
    assert await store.expire_offers(now=now, limit=2) == []


async def test_acceptance_of_an_expired_offer_is_refused_and_changes_nothing(store: Store) -> None:
    await offers_expiring(store, off_1=HOUR)
    arrival = NOW + HOUR + GRACE + 1
    await store.expire_offers(now=arrival, limit=10)
    before = await store.user_view("usr_1")
    # Accepted offline before expiry, arriving beyond the grace period.
    out = await store.sync(
        device_id="dev_1",
        items=[item(AcceptOffer(seq=1, created_at=NOW + 10, offer_id="off_1"))],
        skew_ms=0,
        after_version=before.user.version,
        pull_limit=10,
        now=arrival + 5,
    )
    assert [(r.status, r.code, r.detail) for r in out.results] == [
        ("rejected", "offer_expired", "beyond_grace")
    ]
    assert out.last_seq == 1 and out.changes == [] and out.outbox == []
    after = await store.user_view("usr_1")
    assert (after.offers, after.profile, after.user.version) == (
        before.offers,
        before.profile,
        before.user.version,
    )
    assert await store.list_outbox() == []


async def test_late_acceptance_inside_grace_finds_the_offer_open(store: Store) -> None:
    await offers_expiring(store, off_1=HOUR)
    arrival = NOW + HOUR + 2 * HOUR  # two hours after expiry: inside the grace period
    assert await store.expire_offers(now=arrival, limit=10) == []
    out = await store.sync(
        device_id="dev_1",
        items=[item(AcceptOffer(seq=1, created_at=NOW + HOUR - 60_000, offer_id="off_1"))],
        skew_ms=0,
        after_version=0,
        pull_limit=10,
        now=arrival,
    )
    assert [(r.status, r.code) for r in out.results] == [("applied", None)]
    assert await status(store, "off_1") == "accepted"
    # Accepted offers are not the cron's business, however late it runs.
    assert await store.expire_offers(now=arrival + 10 * GRACE, limit=10) == []


# --- outbox operations: stats, dead letters, retry ---------------------------------------------


async def with_push_consent(store: Store) -> None:
    """dev_1 (usr_1) granted push and registered tok-1; dev_2 registered tok-2; dev_3 (tok-3) revoked."""
    await sync(
        store,
        "dev_1",
        [
            item(SetConsent(seq=1, created_at=NOW, scope=ConsentScope.PUSH, granted=True)),
            item(RegisterPushToken(seq=2, created_at=NOW, token="tok-1", platform=Platform.ANDROID)),
        ],
    )
    for device, token in (("dev_2", "tok-2"), ("dev_3", "tok-3")):
        await enrolled(store, "usr_1", device, f"rt-{device}")
        await store.sync(
            device_id=device,
            items=[item(RegisterPushToken(seq=1, created_at=NOW, token=token, platform=Platform.IOS))],
            skew_ms=0,
            after_version=0,
            pull_limit=1,
            now=NOW + 1,
        )
    await store.revoke_device("dev_3", NOW + 1)


async def applied_with_push(store: Store) -> tuple[int, OutboxRecord]:
    """off_1 accepted (seq 3) and applied with the push consent; the apply row and its push row."""
    await with_offer(store)
    await with_push_consent(store)
    out = await sync(store, "dev_1", [item(AcceptOffer(seq=3, created_at=NOW, offer_id="off_1"))])
    apply_id = out.outbox[0].outbox_id
    assert await store.apply_offer(apply_id, ref=f"job:{apply_id}:0", now=NOW + 10) == "applied"
    [push] = await store.outbox_children(apply_id)
    return apply_id, push


async def dead_apply_row(store: Store) -> int:
    """off_1 accepted; its apply row dead-lettered (one attempt allowed), the offer failed."""
    outbox_id = await accepted(store)
    relay = await store.relay_outbox(now=NOW + 10_000, timeout_ms=1000, max_attempts=1)
    assert relay.dead == [outbox_id]
    assert await status(store, "off_1") == "failed"
    return outbox_id


async def test_outbox_stats(store: Store) -> None:
    empty = await store.outbox_stats(now=NOW)
    assert (empty.counts, empty.oldest_pending_at) == ([], None)
    _, push = await applied_with_push(store)
    stats = await store.outbox_stats(now=NOW + 50)
    assert stats.counts == [
        OutboxCount(kind="apply_offer", state="done", count=1),
        OutboxCount(kind=SEND_PUSH, state="pending", count=1),
    ]
    assert stats.oldest_pending_at == push.created_at == NOW + 10
    await store.skip_push(push.outbox_id, PushOutcome.NO_CONSENT, NOW + 20)
    done = await store.outbox_stats(now=NOW + 50)
    assert [(c.kind, c.state, c.count) for c in done.counts] == [
        ("apply_offer", "done", 1),
        (SEND_PUSH, "done", 1),
    ]
    assert done.oldest_pending_at is None


async def test_outbox_stats_tell_rows_waiting_on_purpose_from_rows_due(store: Store) -> None:
    _, push = await applied_with_push(store)
    plan = await store.push_plan(push.outbox_id)
    assert plan is not None
    retry = [
        PushResult(token=t.token, outcome=PushOutcome.RETRY, error_code="UNAVAILABLE") for t in plan.targets
    ]
    await store.record_push(
        push.outbox_id,
        user_id="usr_1",
        sender="fcm",
        sent=results(plan.targets, plan.payload, retry),
        attempt=0,
        retry_at=NOW + 60_000,
        now=NOW + 30,
    )
    backing_off = await store.outbox_stats(now=NOW + 100)
    assert (backing_off.oldest_pending_at, backing_off.deferred) == (None, 1)
    due = await store.outbox_stats(now=NOW + 70_000)
    assert (due.oldest_pending_at, due.deferred) == (NOW + 60_000, 0)


async def test_dead_letters_are_paged_by_id(store: Store) -> None:
    assert await store.dead_letters(limit=10) == []
    for n in range(3):
        await with_offer(store, f"off_{n}")
    await sync(
        store, "dev_1", [item(AcceptOffer(seq=n + 1, created_at=NOW, offer_id=f"off_{n}")) for n in range(3)]
    )
    relay = await store.relay_outbox(now=NOW + 5000, timeout_ms=1000, max_attempts=1)
    assert len(relay.dead) == 3
    first = await store.dead_letters(limit=2)
    assert [d.outbox_id for d in first] == relay.dead[:2]
    rest = await store.dead_letters(limit=2, after_id=first[-1].outbox_id)
    assert [d.outbox_id for d in rest] == relay.dead[2:]
    dead = first[0]
    assert (dead.kind, dead.attempts, dead.first_attempt, dead.last_error, dead.parent_id) == (
        "apply_offer",
        0,
        0,
        "not done after 1 attempts",
        None,
    )
    assert msgspec.json.decode(dead.payload) == {"offer_id": "off_0"}
    assert (dead.created_at, dead.updated_at) == (NOW + 1, NOW + 5000)
    # Pending and done rows are never listed.
    assert await store.dead_letters(limit=10, after_id=relay.dead[-1]) == []


async def test_retry_refusals_change_nothing(store: Store) -> None:
    dead_id = await dead_apply_row(store)
    await with_offer(store, "off_2")
    pending = (
        await sync(store, "dev_1", [item(AcceptOffer(seq=2, created_at=NOW, offer_id="off_2"))])
    ).outbox[0]
    before = (
        await store.list_outbox(),
        await store.user_view("usr_1"),
        await store.audit_trail(user_id="usr_1"),
    )
    with pytest.raises(OutboxRowNotFound):
        await store.retry_dead(9_999, now=NOW + 20_000)
    with pytest.raises(OutboxNotRetryable, match="not dead"):
        await store.retry_dead(pending.outbox_id, now=NOW + 20_000)
    # Failed is terminal and the user was told: the application is not attempted again.
    with pytest.raises(OutboxNotRetryable, match="failed"):
        await store.retry_dead(dead_id, now=NOW + 20_000)
    after = (
        await store.list_outbox(),
        await store.user_view("usr_1"),
        await store.audit_trail(user_id="usr_1"),
    )
    assert after == before


async def test_retry_of_a_dead_push_starts_a_new_round(store: Store) -> None:
    _, push = await applied_with_push(store)
    # Two attempts per round: the relay takes attempt 1, then dead-letters the row.
    assert [
        r.attempts
        for r in (await store.relay_outbox(now=NOW + 2000, timeout_ms=1000, max_attempts=2)).requeued
    ] == [1]
    assert (await store.relay_outbox(now=NOW + 4000, timeout_ms=1000, max_attempts=2)).dead == [
        push.outbox_id
    ]
    [dead] = await store.dead_letters(limit=10)
    assert (dead.outbox_id, dead.attempts, dead.last_error) == (
        push.outbox_id,
        1,
        "not done after 2 attempts",
    )

    retried = await store.retry_dead(push.outbox_id, now=NOW + 5000)
    assert (retried.state, retried.attempts, retried.first_attempt, retried.updated_at) == (
        "pending",
        2,
        2,
        NOW + 5000,
    )
    assert [o for o in await store.list_outbox() if o.outbox_id == push.outbox_id] == [retried]
    assert await store.dead_letters(limit=10) == []
    # The new round has its own two attempts (2 and 3) before it dies again; numbers never repeat.
    assert (await store.relay_outbox(now=NOW + 5999, timeout_ms=1000, max_attempts=2)).requeued == []
    again = await store.relay_outbox(now=NOW + 6000, timeout_ms=1000, max_attempts=2)
    assert [(r.outbox_id, r.attempts) for r in again.requeued] == [(push.outbox_id, 3)]
    final = await store.relay_outbox(now=NOW + 7000, timeout_ms=1000, max_attempts=2)
    assert final.dead == [push.outbox_id]
    [dead_again] = await store.dead_letters(limit=10)
    assert (dead_again.attempts, dead_again.first_attempt) == (3, 2)
    # A retried push row is sendable again.
    assert await store.retry_dead(push.outbox_id, now=NOW + 8000) is not None
    plan = await store.push_plan(push.outbox_id)
    assert plan is not None and [t.token for t in plan.targets] == ["tok-1", "tok-2"]


# --- push methods ------------------------------------------------------------------------------


async def test_outbox_children_are_the_pending_push_rows(store: Store) -> None:
    apply_id, push = await applied_with_push(store)
    assert (push.kind, push.state, push.attempts) == (SEND_PUSH, "pending", 0)
    payload = msgspec.json.decode(push.payload, type=PushPayload)
    assert (payload.user_id, payload.notice_id, payload.notice_kind) == (
        "usr_1",
        "limit_applied:off_1",
        "limit_applied",
    )
    assert await store.outbox_children(push.outbox_id) == []
    assert await store.outbox_children(9_999) == []
    await store.skip_push(push.outbox_id, PushOutcome.NO_CONSENT, NOW + 20)
    assert await store.outbox_children(apply_id) == []


async def test_no_push_row_without_consent(store: Store) -> None:
    outbox_id = await accepted(store)
    assert await store.apply_offer(outbox_id, ref="job", now=NOW + 10) == "applied"
    assert await store.outbox_children(outbox_id) == []
    assert [o.kind for o in await store.list_outbox()] == ["apply_offer"]


async def test_push_plan(store: Store) -> None:
    apply_id, push = await applied_with_push(store)
    plan = await store.push_plan(push.outbox_id)
    assert plan is not None
    assert (plan.user_id, plan.consented, plan.payload) == ("usr_1", True, push.payload)
    # Active tokens of the user's devices that are not revoked (dev_3 is).
    assert plan.targets == [
        PushTarget(device_id="dev_1", token="tok-1", platform="android"),
        PushTarget(device_id="dev_2", token="tok-2", platform="ios"),
    ]
    # Not a pending send_push row: no plan.
    assert await store.push_plan(apply_id) is None
    assert await store.push_plan(9_999) is None
    # The consent is read when planning: revoked now, the plan says so.
    await sync(
        store, "dev_1", [item(SetConsent(seq=4, created_at=NOW, scope=ConsentScope.PUSH, granted=False))]
    )
    revoked = await store.push_plan(push.outbox_id)
    assert revoked is not None and revoked.consented is False


def results(
    plan_targets: list[PushTarget], payload: bytes, outcomes: list[PushResult]
) -> list[tuple[PushTarget, PushMessage, PushResult]]:
    push = msgspec.json.decode(payload, type=PushPayload)
    return [(t, message_for(push, t.token), r) for t, r in zip(plan_targets, outcomes, strict=True)]


async def test_record_push_done_deactivates_dead_tokens(store: Store) -> None:
    _, push = await applied_with_push(store)
    plan = await store.push_plan(push.outbox_id)
    assert plan is not None
    sent = results(
        plan.targets,
        plan.payload,
        [
            PushResult(token="tok-1", outcome=PushOutcome.SENT, message_id="m1"),
            PushResult(token="tok-2", outcome=PushOutcome.DEACTIVATE, error_code="UNREGISTERED"),
        ],
    )
    state = await store.record_push(
        push.outbox_id,
        user_id="usr_1",
        sender="fcm",
        sent=sent,
        attempt=0,
        retry_at=NOW + 99_000,
        now=NOW + 30,
    )
    assert state == "done"
    attempts = await store.push_attempts("usr_1")
    assert [
        (a.outbox_id, a.attempt, a.device_id, a.token, a.sender, a.outcome, a.error_code, a.message_id, a.at)
        for a in attempts
    ] == [
        (push.outbox_id, 0, "dev_1", "tok-1", "fcm", "sent", None, "m1", NOW + 30),
        (push.outbox_id, 0, "dev_2", "tok-2", "fcm", "deactivate", "UNREGISTERED", None, NOW + 30),
    ]
    assert attempts[0].message["token"] == "tok-1" and attempts[0].message["data"] == {
        "type": "notice",
        "notice_id": "limit_applied:off_1",
        "kind": "limit_applied",
    }
    assert [o.state for o in await store.list_outbox() if o.outbox_id == push.outbox_id] == ["done"]
    assert await store.push_plan(push.outbox_id) is None
    # A row no longer pending: its state, nothing recorded.
    again = await store.record_push(
        push.outbox_id, user_id="usr_1", sender="fcm", sent=sent, attempt=0, retry_at=0, now=NOW + 40
    )
    assert again == "done" and len(await store.push_attempts("usr_1")) == 2
    # The deactivated token is gone from later pushes; the sent one is still active.
    _, later = await second_push(store)
    plan = await store.push_plan(later.outbox_id)
    assert plan is not None and [t.token for t in plan.targets] == ["tok-1"]


async def second_push(store: Store) -> tuple[int, OutboxRecord]:
    await store.create_offer(
        msgspec.structs.replace(terms("off_2"), new_limit_cents=200_000), actor="admin", now=NOW + 50
    )
    out = await sync(store, "dev_1", [item(AcceptOffer(seq=4, created_at=NOW + 50, offer_id="off_2"))])
    apply_id = out.outbox[0].outbox_id
    assert await store.apply_offer(apply_id, ref="job", now=NOW + 60) == "applied"
    [push] = await store.outbox_children(apply_id)
    return apply_id, push


async def test_record_push_retry_keeps_the_row_pending_until_retry_at(store: Store) -> None:
    _, push = await applied_with_push(store)
    plan = await store.push_plan(push.outbox_id)
    assert plan is not None
    sent = results(
        plan.targets,
        plan.payload,
        [
            PushResult(token="tok-1", outcome=PushOutcome.SENT, message_id="m1"),
            PushResult(token="tok-2", outcome=PushOutcome.RETRY, error_code="QUOTA_EXCEEDED"),
        ],
    )
    state = await store.record_push(
        push.outbox_id,
        user_id="usr_1",
        sender="fcm",
        sent=sent,
        attempt=0,
        retry_at=NOW + 60_000,
        now=NOW + 30,
    )
    assert state == "pending"
    # Stale by the relay timeout, but backing off until retry_at.
    assert (await store.relay_outbox(now=NOW + 59_999, timeout_ms=1000, max_attempts=5)).requeued == []
    relayed = await store.relay_outbox(now=NOW + 60_000, timeout_ms=1000, max_attempts=5)
    assert [(r.outbox_id, r.attempts) for r in relayed.requeued] == [(push.outbox_id, 1)]
    # Only the token that was not reached is planned for the next attempt.
    retry_plan = await store.push_plan(push.outbox_id)
    assert retry_plan is not None and [t.token for t in retry_plan.targets] == ["tok-2"]
    ok = results(
        retry_plan.targets, retry_plan.payload, [PushResult(token="tok-2", outcome=PushOutcome.SENT)]
    )
    assert (
        await store.record_push(
            push.outbox_id, user_id="usr_1", sender="fcm", sent=ok, attempt=1, retry_at=0, now=NOW + 61_000
        )
        == "done"
    )
    assert [(a.attempt, a.token, a.outcome) for a in await store.push_attempts("usr_1")] == [
        (0, "tok-1", "sent"),
        (0, "tok-2", "retry"),
        (1, "tok-2", "sent"),
    ]


async def test_record_push_keeps_the_attempt_of_the_job_that_sent(store: Store) -> None:
    """A slow attempt 0 that records after the relay counted attempt 1 is still recorded as 0."""
    _, push = await applied_with_push(store)
    plan = await store.push_plan(push.outbox_id)
    assert plan is not None
    relayed = await store.relay_outbox(now=NOW + 60_000, timeout_ms=1000, max_attempts=5)
    assert [(r.outbox_id, r.attempts) for r in relayed.requeued] == [(push.outbox_id, 1)]
    sent = results(
        plan.targets,
        plan.payload,
        [
            PushResult(token=t.token, outcome=PushOutcome.SENT, message_id=f"m-{t.token}")
            for t in plan.targets
        ],
    )
    state = await store.record_push(
        push.outbox_id, user_id="usr_1", sender="fcm", sent=sent, attempt=0, retry_at=0, now=NOW + 60_001
    )
    assert state == "done"
    assert [(a.attempt, a.token) for a in await store.push_attempts("usr_1")] == [(0, "tok-1"), (0, "tok-2")]


async def test_a_push_token_registered_on_another_device_leaves_the_first(store: Store) -> None:
    """The same FCM token registered by a device of another user: only the last device keeps it."""
    _, push = await applied_with_push(store)
    await enrolled(store, "usr_2", "dev_9", "rt-dev_9")
    await store.sync(
        device_id="dev_9",
        items=[item(RegisterPushToken(seq=1, created_at=NOW, token="tok-1", platform=Platform.ANDROID))],
        skew_ms=0,
        after_version=0,
        pull_limit=1,
        now=NOW + 20,
    )
    plan = await store.push_plan(push.outbox_id)
    assert plan is not None and [t.token for t in plan.targets] == ["tok-2"]


async def test_push_plan_claimed_by_a_sending_job_holds_the_relay_off(store: Store) -> None:
    _, push = await applied_with_push(store)
    claimed = await store.push_plan(push.outbox_id, claim_at=NOW + 5_000)
    assert claimed is not None and [t.token for t in claimed.targets] == ["tok-1", "tok-2"]
    # Stale by its creation time, but the claim counts: no next attempt while the send may run.
    assert (await store.relay_outbox(now=NOW + 5_999, timeout_ms=1000, max_attempts=5)).requeued == []
    relayed = await store.relay_outbox(now=NOW + 6_000, timeout_ms=1000, max_attempts=5)
    assert [(r.outbox_id, r.attempts) for r in relayed.requeued] == [(push.outbox_id, 1)]
    # A plain read claims nothing.
    assert await store.push_plan(push.outbox_id) is not None
    assert (await store.relay_outbox(now=NOW + 7_001, timeout_ms=1000, max_attempts=5)).requeued != []


async def test_skip_push_finishes_the_row_without_attempts(store: Store) -> None:
    _, push = await applied_with_push(store)
    await store.skip_push(push.outbox_id, PushOutcome.NO_CONSENT, NOW + 20)
    [row] = [o for o in await store.list_outbox() if o.outbox_id == push.outbox_id]
    assert (row.state, row.updated_at) == ("done", NOW + 20)
    assert await store.push_attempts("usr_1") == []
    assert await store.push_plan(push.outbox_id) is None
    # Skipping a row that is not pending (or does not exist) changes nothing.
    await store.skip_push(push.outbox_id, PushOutcome.NO_CONSENT, NOW + 30)
    await store.skip_push(9_999, PushOutcome.NO_CONSENT, NOW + 30)
    assert [o for o in await store.list_outbox() if o.outbox_id == push.outbox_id] == [row]
    assert await store.dead_letters(limit=10) == []


async def test_push_attempts_are_per_user(store: Store) -> None:
    await applied_with_push(store)
    await enrolled(store, "usr_2", "dev_9", "rt9")
    assert await store.push_attempts("usr_2") == []
    assert await store.push_attempts("usr_missing") == []
