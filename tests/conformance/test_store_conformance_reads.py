"""Store conformance: the read methods operators and the integration and chaos checks use to see
what the store holds (users, enrollment codes, processed mutations, the change log, outbox rows
with their error and back-off, push tokens). Run per backend by the conftest."""

from __future__ import annotations

import pytest

from cloud.outbox.kinds import APPLY_OFFER, SEND_PUSH
from cloud.push.messages import PushOutcome, PushResult
from cloud.store import Store
from cloud.store.records import EnrollmentCodeRecord, ProcessedMutation, PushTokenRecord
from sync.codec import decode_change
from sync.messages import (
    AcceptOffer,
    ConsentScope,
    ConsentState,
    DeclineOffer,
    Notice,
    Platform,
    RegisterPushToken,
    SetConsent,
)
from tests.conformance.test_store_conformance import (
    DAY_MS,
    NOW,
    accepted,
    changes_of,
    enrolled,
    invalid_item,
    item,
    sync,
    with_offer,
)
from tests.conformance.test_store_conformance_outbox import applied_with_push, results

pytestmark = pytest.mark.anyio


async def test_list_users_oldest_first(store: Store) -> None:
    assert await store.list_users() == []
    await store.create_user("usr_b", "ref-b", NOW + 2)
    await store.create_user("usr_c", None, NOW + 1)
    await store.create_user("usr_a", None, NOW + 2)
    await store.append_notice(user_id="usr_c", notice_id="n1", kind="info", title="t", body="b", now=NOW + 3)
    users = await store.list_users()
    assert [(u.user_id, u.external_ref, u.version, u.created_at) for u in users] == [
        ("usr_c", None, 1, NOW + 1),
        ("usr_a", None, 0, NOW + 2),
        ("usr_b", "ref-b", 0, NOW + 2),
    ]
    assert users == [await store.get_user(u) for u in ("usr_c", "usr_a", "usr_b")]


async def test_enrollment_codes_of_a_user(store: Store) -> None:
    assert await store.enrollment_codes("usr_1") == []
    await enrolled(store, "usr_1", "dev_1")
    await store.create_enrollment_code("usr_1", "code-unused", NOW + DAY_MS, NOW + 5)
    await store.create_user("usr_2", None, NOW)
    await store.create_enrollment_code("usr_2", "code-other", NOW + DAY_MS, NOW)
    assert await store.enrollment_codes("usr_1") == [
        EnrollmentCodeRecord(
            code_hash="code-dev_1",
            user_id="usr_1",
            expires_at=NOW + DAY_MS,
            created_at=NOW,
            used_at=NOW,
            device_id="dev_1",
        ),
        EnrollmentCodeRecord(
            code_hash="code-unused",
            user_id="usr_1",
            expires_at=NOW + DAY_MS,
            created_at=NOW + 5,
            used_at=None,
            device_id=None,
        ),
    ]
    assert [c.code_hash for c in await store.enrollment_codes("usr_2")] == ["code-other"]
    assert await store.enrollment_codes("usr_nobody") == []


async def test_processed_mutations_keep_each_seqs_digest_and_result(store: Store) -> None:
    await with_offer(store)
    await enrolled(store, "usr_1", "dev_2", "rt-2")
    pushed = [
        item(AcceptOffer(seq=1, created_at=NOW, offer_id="off_1")),
        invalid_item(2, error="unknown type"),
        item(DeclineOffer(seq=3, created_at=NOW, offer_id="off_1")),
    ]
    outcome = await sync(store, "dev_1", pushed)
    assert [(r.status, r.code) for r in outcome.results] == [
        ("applied", None),
        ("rejected", "invalid_mutation"),
        ("rejected", "offer_not_open"),
    ]
    kept = await store.processed_mutations("dev_1")
    assert kept == [
        ProcessedMutation(
            device_id="dev_1", seq=p.seq, digest=p.digest, status=r.status, code=r.code, detail=r.detail
        )
        for p, r in zip(pushed, outcome.results, strict=True)
    ]
    # A resend is answered from these rows and adds none; other devices have their own.
    again = await sync(store, "dev_1", pushed)
    assert [r.replay for r in again.results] == [True, True, True]
    assert await store.processed_mutations("dev_1") == kept
    assert await store.processed_mutations("dev_2") == []
    assert await store.processed_mutations("dev_nobody") == []


async def test_change_log_is_every_change_of_the_user(store: Store) -> None:
    assert await store.change_log("usr_1") == []
    await with_offer(store)
    await sync(
        store, "dev_1", [item(SetConsent(seq=1, created_at=NOW, scope=ConsentScope.PUSH, granted=True))]
    )
    await store.append_notice(user_id="usr_1", notice_id="n1", kind="info", title="t", body="b", now=NOW + 2)
    await store.create_user("usr_2", None, NOW)
    await store.append_notice(user_id="usr_2", notice_id="n2", kind="info", title="t", body="b", now=NOW + 2)
    log = await store.change_log("usr_1")
    assert [c.version for c in log] == list(range(1, len(log) + 1))
    assert log[-1].version == (await store.user_view("usr_1")).user.version
    changes = [decode_change(c.body) for c in log]
    assert [c.type for c in log] == [type(c).__name__ for c in changes]
    assert changes == await changes_of(store)  # what a device pulls from the start, page by page
    assert isinstance(changes[-2], ConsentState) and isinstance(changes[-1], Notice)
    assert [c.version for c in await store.change_log("usr_1", after_version=len(log) - 2)] == [
        len(log) - 1,
        len(log),
    ]
    assert await store.change_log("usr_1", after_version=len(log)) == []
    assert [c.type for c in await store.change_log("usr_2")] == ["Notice"]
    assert await store.change_log("usr_nobody") == []


async def test_list_outbox_after_an_id(store: Store) -> None:
    first = await accepted(store)
    await with_offer(store, "off_2")
    second = (await sync(store, "dev_1", [item(AcceptOffer(seq=2, created_at=NOW, offer_id="off_2"))])).outbox
    everything = await store.list_outbox()
    assert [r.outbox_id for r in everything] == [first, second[0].outbox_id]
    assert await store.list_outbox(after_id=first) == everything[1:] == second
    assert await store.list_outbox(after_id=second[0].outbox_id) == []


async def test_outbox_rows_carry_their_error_parent_and_back_off(store: Store) -> None:
    apply_id, push = await applied_with_push(store)
    assert (push.kind, push.parent_id, push.last_error, push.not_before) == (SEND_PUSH, apply_id, None, None)
    [apply_row] = [r for r in await store.list_outbox() if r.outbox_id == apply_id]
    assert (apply_row.kind, apply_row.state, apply_row.parent_id, apply_row.last_error) == (
        APPLY_OFFER,
        "done",
        None,
        None,
    )
    plan = await store.push_plan(push.outbox_id)
    assert plan is not None
    retry = [
        PushResult(token=t.token, outcome=PushOutcome.RETRY, error_code="QUOTA_EXCEEDED")
        for t in plan.targets
    ]
    sent = results(plan.targets, plan.payload, retry)
    await store.record_push(
        push.outbox_id,
        user_id="usr_1",
        sender="fcm",
        sent=sent,
        attempt=0,
        retry_at=NOW + 60_000,
        now=NOW + 30,
    )
    [waiting] = await store.list_outbox(after_id=apply_id)
    assert (waiting.state, waiting.last_error, waiting.not_before, waiting.parent_id) == (
        "pending",
        "retry later: QUOTA_EXCEEDED",
        NOW + 60_000,
        apply_id,
    )
    await store.skip_push(push.outbox_id, PushOutcome.NO_CONSENT, NOW + 40)
    [skipped] = await store.list_outbox(after_id=apply_id)
    assert (skipped.state, skipped.last_error) == ("done", PushOutcome.NO_CONSENT.value)


async def test_a_dead_rows_error_is_listed_and_kept_by_its_retry(store: Store) -> None:
    outbox_id = await accepted(store)
    await store.relay_outbox(now=NOW + 10_000, timeout_ms=1000, max_attempts=1)
    [dead] = [r for r in await store.list_outbox() if r.outbox_id == outbox_id]
    [letter] = await store.dead_letters(limit=10)
    assert (dead.state, dead.last_error, dead.parent_id) == ("dead", letter.last_error, letter.parent_id)
    assert dead.last_error == "not done after 1 attempts"


async def test_push_tokens_of_a_users_devices(store: Store) -> None:
    await enrolled(store, "usr_1", "dev_1")
    await enrolled(store, "usr_1", "dev_2", "rt-2")
    await enrolled(store, "usr_2", "dev_3", "rt-3")
    assert await store.push_tokens("usr_1") == []
    register = RegisterPushToken(seq=1, created_at=NOW, token="tok-shared", platform=Platform.ANDROID)
    await sync(store, "dev_1", [item(register)])
    assert await store.push_tokens("usr_1") == [
        PushTokenRecord(
            device_id="dev_1", token="tok-shared", platform="android", active=True, updated_at=NOW + 1
        )
    ]
    # The same token registered on another user's device (a phone re-enrolled) leaves dev_1.
    await sync(store, "dev_3", [item(register)])
    assert [(t.device_id, t.token, t.active) for t in await store.push_tokens("usr_1")] == [
        ("dev_1", "tok-shared", False)
    ]
    assert [(t.device_id, t.active) for t in await store.push_tokens("usr_2")] == [("dev_3", True)]
    # A revoked device's token is still listed; devices are in id order.
    other = RegisterPushToken(seq=1, created_at=NOW, token="tok-2", platform=Platform.IOS)
    await sync(store, "dev_2", [item(other)])
    await store.revoke_device("dev_2", NOW + 5)
    assert [(t.device_id, t.token, t.platform) for t in await store.push_tokens("usr_1")] == [
        ("dev_1", "tok-shared", "android"),
        ("dev_2", "tok-2", "ios"),
    ]
    assert await store.push_tokens("usr_nobody") == []
