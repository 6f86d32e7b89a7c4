"""Store conformance: the retention job's deletions, table by table, and change-log compaction.
Run per backend by the conftest (PostgreSQL enforces every foreign key the deletions must respect)."""

from __future__ import annotations

import msgspec
import pytest

from cloud.push.messages import PushOutcome, PushResult
from cloud.store import Store
from cloud.store.records import OperatorSessionRecord, RetentionCutoffs, RetentionOutcome
from sync.codec import decode_change
from sync.messages import ConsentScope, ConsentState, SetConsent
from tests.conformance.test_store_conformance import DAY_MS, NOW, aggregate, enrolled, item, sharing, sync
from tests.conformance.test_store_conformance_operators import account
from tests.conformance.test_store_conformance_outbox import applied_with_push, results
from tests.conformance.test_store_credit_conformance import DAY, complete, ready_user, requested, terms

pytestmark = pytest.mark.anyio

KEEP_ALL = RetentionCutoffs(
    aggregates_before_day="1970-01-01",
    push_attempts_before=0,
    outbox_before=0,
    sessions_before=0,
    digests_revoked_before=0,
)


def cutoffs(**changes: object) -> RetentionCutoffs:
    return msgspec.structs.replace(KEEP_ALL, **changes)


async def test_nothing_goes_before_its_time(store: Store) -> None:
    await sharing(store)
    await enrolled(store)
    await sync(store, "dev_1", [item(aggregate(1))])
    assert await store.purge_expired(KEEP_ALL, limit=10) == RetentionOutcome()


async def test_aggregates_go_by_day_and_off_the_counts(store: Store) -> None:
    await sharing(store)
    await enrolled(store)
    days = ["2024-01-01", "2024-01-02", "2024-01-03"]
    pushed = [item(aggregate(seq, day)) for seq, day in enumerate(days, start=1)]
    await sync(store, "dev_1", pushed)

    # A limit of 1: the job repeats the call until a batch comes back short.
    first = await store.purge_expired(cutoffs(aggregates_before_day="2024-01-03"), limit=1)
    second = await store.purge_expired(cutoffs(aggregates_before_day="2024-01-03"), limit=1)
    last = await store.purge_expired(cutoffs(aggregates_before_day="2024-01-03"), limit=1)

    assert (first.aggregates, second.aggregates, last.aggregates) == (1, 1, 0)
    assert [a.day for a in (await store.user_view("usr_1")).aggregates] == ["2024-01-03"]
    assert [g.count for g in await store.aggregate_groups("2024-01-01", "2024-01-02")] == []
    assert [g.count for g in await store.aggregate_groups("2024-01-01", "2024-01-03")] == [1]


async def test_push_attempts_then_their_finished_rows(store: Store) -> None:
    apply_id, push = await applied_with_push(store)
    plan = await store.push_plan(push.outbox_id)
    assert plan is not None
    sent = [PushResult(token=t.token, outcome=PushOutcome.SENT, message_id="m") for t in plan.targets]
    await store.record_push(
        push.outbox_id,
        user_id="usr_1",
        sender="fcm",
        sent=results(plan.targets, plan.payload, sent),
        attempt=0,
        retry_at=NOW,
        now=NOW + 30,
    )
    # The rows are old enough, but the push row's attempts are not: the push row stays, and so
    # does its parent, the apply row it follows.
    kept = await store.purge_expired(cutoffs(outbox_before=NOW + DAY_MS), limit=10)
    assert (kept.push_attempts, kept.outbox) == (0, 0)
    gone = await store.purge_expired(
        cutoffs(outbox_before=NOW + DAY_MS, push_attempts_before=NOW + DAY_MS), limit=10
    )
    assert (gone.push_attempts, gone.outbox) == (len(sent), 1)
    assert await store.push_attempts("usr_1") == []
    # The apply row goes once its follow-up is gone, on the next call.
    again = await store.purge_expired(cutoffs(outbox_before=NOW + DAY_MS), limit=10)
    assert again.outbox == 1
    assert [r.outbox_id for r in await store.list_outbox() if r.outbox_id in (apply_id, push.outbox_id)] == []
    # Money records do not go with their jobs.
    assert [o.status for o in await store.list_offers("usr_1")] == ["applied"]


async def test_a_pending_or_dead_row_stays_and_a_done_evaluation_forgets_its_job(store: Store) -> None:
    await ready_user(store)
    inputs = await requested(store)
    await complete(store, inputs, terms())
    await store.withdraw_offer("off_1", actor="admin", reason_code="withdrawn", now=NOW + 20)
    pending = await store.request_evaluation("usr_1", "eval_2", trigger="admin", day=DAY, now=NOW)
    outcome = await store.purge_expired(cutoffs(outbox_before=NOW + DAY_MS), limit=10)
    # The completed evaluation's job row goes (its offer's ping has no push consent: none was
    # queued); the pending one's row stays, as does the evaluation it serves.
    assert outcome.outbox == 1
    evaluations = {e.evaluation_id: e for e in await store.list_evaluations("usr_1")}
    assert evaluations["eval_1"].status == "done" and evaluations["eval_1"].offer_id == "off_1"
    assert evaluations["eval_2"].status == "pending"
    assert await store.evaluation_inputs(pending.outbox.outbox_id) is not None


async def test_digests_of_revoked_devices_go(store: Store) -> None:
    await enrolled(store)
    await enrolled(store, device_id="dev_2", refresh_hash="rt-2")
    for device_id in ("dev_1", "dev_2"):
        grant = SetConsent(seq=1, created_at=NOW, scope=ConsentScope.PUSH, granted=True)
        await sync(store, device_id, [item(grant)])
    await store.revoke_device("dev_2", NOW + 5)
    kept = await store.purge_expired(cutoffs(digests_revoked_before=NOW + 5), limit=10)
    assert kept.mutation_digests == 0
    gone = await store.purge_expired(cutoffs(digests_revoked_before=NOW + 6), limit=10)
    assert gone.mutation_digests == 1
    assert await store.processed_mutations("dev_2") == []
    assert len(await store.processed_mutations("dev_1")) == 1


async def test_ended_operator_sessions_go(store: Store) -> None:
    root = await store.create_operator(account("root"), actor="t", address=None, first=True)
    for name, expires in (("old", NOW), ("live", NOW + DAY_MS), ("out", NOW + DAY_MS)):
        await store.login_succeeded(
            root,
            OperatorSessionRecord(
                session_hash=name, operator_id=root.operator_id, created_at=NOW - 1, expires_at=expires
            ),
            None,
        )
    await store.end_session("out", NOW + 1, None)
    outcome = await store.purge_expired(cutoffs(sessions_before=NOW + 2), limit=10)
    assert outcome.operator_sessions == 2
    assert await store.session_operator("live", NOW + 3) is not None


async def test_compaction_keeps_the_latest_change_of_each_entity(store: Store) -> None:
    await enrolled(store)
    await enrolled(store, "usr_2", "dev_other", refresh_hash="rt-other")
    await store.append_notice(user_id="usr_1", notice_id="n1", kind="info", title="t", body="b", now=NOW)
    for seq, granted in ((1, True), (2, False), (3, True)):
        change = SetConsent(seq=seq, created_at=NOW + seq, scope=ConsentScope.PUSH, granted=granted)
        await sync(store, "dev_1", [item(change)])
    before = [c.version for c in await store.change_log("usr_1")]
    assert before == [1, 2, 3, 4]

    # Not old enough: nothing goes.
    young = await store.compact_change_logs(after_user_id="", users=10, before=NOW)
    assert (young.users, young.deleted) == (2, 0)
    # One user a batch: the job walks the users in id order.
    first = await store.compact_change_logs(after_user_id="", users=1, before=NOW + DAY_MS)
    assert (first.users, first.deleted, first.last_user_id) == (1, 2, "usr_1")
    rest = await store.compact_change_logs(after_user_id="usr_1", users=1, before=NOW + DAY_MS)
    assert (rest.users, rest.deleted, rest.last_user_id) == (1, 0, "usr_2")
    done = await store.compact_change_logs(after_user_id="usr_2", users=1, before=NOW + DAY_MS)
    assert (done.users, done.last_user_id) == (0, None)

    kept = await store.change_log("usr_1")
    assert [(c.version, c.type) for c in kept] == [(1, "Notice"), (4, "ConsentState")]
    # A device pulling from scratch ends where one that pulled everything did; versions go on.
    latest = decode_change(kept[-1].body)
    assert isinstance(latest, ConsentState) and latest.scopes[ConsentScope.PUSH] is True
    out = await sync(store, "dev_1", [], after=0)
    assert [c.version for c in out.changes] == [1, 4]
    user = await store.get_user("usr_1")
    assert user is not None and user.version == 4
