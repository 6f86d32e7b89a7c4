"""Store conformance: the admin lists, paged by key newest first, and a user's timeline. Run per
backend by the conftest."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import pytest

from cloud.domain.admin.paging import Key
from cloud.push.messages import PushOutcome, PushResult
from cloud.store import Store
from cloud.store.errors import UserNotFound
from cloud.store.migrations import MIGRATIONS
from cloud.store.scripts.lists import TIMELINE_KINDS
from sync.messages import ConsentScope, RequestReview, SetConsent, Withdrawn
from tests.conformance.test_store_conformance import (
    NOW,
    aggregate,
    enrolled,
    item,
    sharing,
    sync,
    with_offer,
)
from tests.conformance.test_store_conformance_outbox import applied_with_push, results
from tests.conformance.test_store_credit_conformance import ready_user, requested

pytestmark = pytest.mark.anyio

R = TypeVar("R")
Fetch = Callable[[Key | None, int], Awaitable[list[R]]]


async def walk(fetch: Fetch[R], key: Callable[[R], Key], limit: int) -> list[R]:
    """Every row, page by page: each page asks for ``limit`` rows (the store returns one more when
    there is a next page) and the next starts below the last shown row's key."""
    seen: list[R] = []
    after: Key | None = None
    while True:
        rows = await fetch(after, limit)
        assert len(rows) <= limit + 1
        seen.extend(rows[:limit])
        if len(rows) <= limit:
            return seen
        after = key(rows[limit - 1])


def newest_first(keys: Sequence[Key]) -> bool:
    return list(keys) == sorted(keys, reverse=True) and len(set(keys)) == len(keys)


async def test_users_page_newest_first_and_filter_by_ref(store: Store) -> None:
    # Equal creation times, so the id breaks the tie and no page boundary loses a row.
    for n, user_id in enumerate(["usr_c", "usr_a", "usr_e", "usr_b", "usr_d"]):
        await store.create_user(user_id, "shared" if n % 2 else None, NOW + n // 2)

    async def page(after: Key | None, limit: int) -> list[Any]:
        return await store.page_users(external_ref=None, after=after, limit=limit)

    for limit in (1, 2, 3, 5, 10):
        users = await walk(page, lambda u: (u.created_at, u.user_id), limit)
        assert [u.user_id for u in users] == ["usr_d", "usr_e", "usr_b", "usr_c", "usr_a"]
    shared = await store.page_users(external_ref="shared", after=None, limit=10)
    assert [u.user_id for u in shared] == ["usr_b", "usr_a"]
    assert await store.page_users(external_ref="nobody", after=None, limit=10) == []


async def test_devices_page_with_filters(store: Store) -> None:
    await enrolled(store, "usr_1", "dev_1", "rt1")
    await enrolled(store, "usr_1", "dev_2", "rt2")
    await enrolled(store, "usr_2", "dev_3", "rt3")
    await store.revoke_device("dev_2", NOW + 5)

    async def page(after: Key | None, limit: int) -> list[Any]:
        return await store.page_devices(user_id=None, platform=None, revoked=None, after=after, limit=limit)

    every = await walk(page, lambda d: (d.created_at, d.device_id), 1)
    assert [d.device_id for d in every] == ["dev_3", "dev_2", "dev_1"]
    assert newest_first([(d.created_at, d.device_id) for d in every])

    def ids(rows: list[Any]) -> list[str]:
        return [d.device_id for d in rows]

    mine = await store.page_devices(user_id="usr_1", platform=None, revoked=None, after=None, limit=10)
    assert ids(mine) == ["dev_2", "dev_1"]
    live = await store.page_devices(user_id="usr_1", platform=None, revoked=False, after=None, limit=10)
    assert ids(live) == ["dev_1"]
    gone = await store.page_devices(user_id=None, platform=None, revoked=True, after=None, limit=10)
    assert ids(gone) == ["dev_2"]
    assert await store.page_devices(user_id=None, platform="ios", revoked=None, after=None, limit=10) == []


async def test_offers_page_by_status(store: Store) -> None:
    await with_offer(store, "off_1")
    await with_offer(store, "off_2")
    await store.withdraw_offer("off_1", actor="admin", reason_code="withdrawn", now=NOW + 1)

    async def page(after: Key | None, limit: int) -> list[Any]:
        return await store.page_offers(status=None, user_id=None, after=after, limit=limit)

    every = await walk(page, lambda o: (o.created_at, o.offer_id), 1)
    assert [o.offer_id for o in every] == ["off_2", "off_1"]
    offered = await store.page_offers(status="offered", user_id="usr_1", after=None, limit=10)
    assert [(o.offer_id, o.status) for o in offered] == [("off_2", "offered")]
    withdrawn = await store.page_offers(status="withdrawn", user_id=None, after=None, limit=10)
    assert [o.offer_id for o in withdrawn] == ["off_1"]
    assert await store.page_offers(status=None, user_id="usr_nobody", after=None, limit=10) == []


async def test_evaluations_page_by_status(store: Store) -> None:
    await ready_user(store)
    await requested(store, evaluation_id="eval_1")
    await ready_user(store, "usr_2", "dev_2")
    await requested(store, "usr_2", evaluation_id="eval_2")

    async def page(after: Key | None, limit: int) -> list[Any]:
        return await store.page_evaluations(status=None, user_id=None, after=after, limit=limit)

    every = await walk(page, lambda e: (e.created_at, e.evaluation_id), 1)
    assert sorted(e.evaluation_id for e in every) == ["eval_1", "eval_2"]
    assert newest_first([(e.created_at, e.evaluation_id) for e in every])
    one = await store.page_evaluations(status="pending", user_id="usr_2", after=None, limit=10)
    assert [e.evaluation_id for e in one] == ["eval_2"]
    assert await store.page_evaluations(status="done", user_id=None, after=None, limit=10) == []


async def test_outbox_page_by_kind_and_state(store: Store) -> None:
    apply_id, push = await applied_with_push(store)

    async def page(after: Key | None, limit: int) -> list[Any]:
        return await store.page_outbox(kind=None, state=None, after=after, limit=limit)

    every = await walk(page, lambda r: (r.outbox_id,), 1)
    assert [r.outbox_id for r in every] == sorted((r.outbox_id for r in every), reverse=True)
    assert {apply_id, push.outbox_id} <= {r.outbox_id for r in every}
    pushes = await store.page_outbox(kind="send_push", state="pending", after=None, limit=10)
    assert [r.outbox_id for r in pushes] == [push.outbox_id]
    done = await store.page_outbox(kind="apply_offer", state="done", after=None, limit=10)
    assert [r.outbox_id for r in done] == [apply_id]


async def test_timeline_holds_every_kind_of_event_newest_first(store: Store) -> None:
    await sharing(store)
    _, push = await applied_with_push(store)  # dev_1's offer off_1 accepted and applied
    await sync(store, "dev_1", [item(aggregate(4, "2024-01-02"))])
    # Seqs 5 and 6 the server lost and the device filled; 7 a tombstone of content it withdrew.
    fillers = [Withdrawn(seq=5, created_at=NOW), Withdrawn(seq=6, created_at=NOW)]
    withdrawn = Withdrawn(seq=7, created_at=NOW, original_type="SubmitAggregate")
    await sync(store, "dev_1", [item(m) for m in (*fillers, withdrawn)])
    await store.append_notice(
        user_id="usr_1", notice_id="n1", kind="info", title="secret", body="b", now=NOW + 40
    )
    plan = await store.push_plan(push.outbox_id)
    assert plan is not None
    outcomes = [PushResult(token=t.token, outcome=PushOutcome.SENT) for t in plan.targets]
    sent = results(plan.targets, plan.payload, outcomes)
    await store.record_push(
        push.outbox_id, user_id="usr_1", sender="log", sent=sent, attempt=0, retry_at=NOW + 99, now=NOW + 50
    )
    await ready_user(store, "usr_1", "dev_4")
    await requested(store, evaluation_id="eval_1")
    await enrolled(store, "usr_2", "dev_other", "rt-other")
    await sync(
        store, "dev_other", [item(SetConsent(seq=1, created_at=NOW, scope=ConsentScope.PUSH, granted=True))]
    )

    everything = await store.user_timeline("usr_1", after=None, limit=1000)
    assert {e.kind for e in everything} == set(TIMELINE_KINDS)
    assert newest_first([(e.at, e.kind, e.ref) for e in everything])
    assert "secret" not in {e.summary for e in everything}  # a notice's kind, never its text
    assert ("aggregate", "dev_1:4", "day 2024-01-02") in {(e.kind, e.ref, e.summary) for e in everything}
    lost = [(e.ref, e.summary) for e in everything if e.kind == "seqs_lost"]
    assert lost == [("dev_1:5", "seqs 5-6 lost by the server, filled by the device")]
    assert {e.ref for e in everything if e.kind == "device_revoked"} == {"dev_3"}
    assert "dev_other" not in {e.ref for e in everything}  # another user's device

    async def page(after: Key | None, limit: int) -> list[Any]:
        return await store.user_timeline("usr_1", after=after, limit=limit)

    for limit in (1, 4):
        assert await walk(page, lambda e: (e.at, e.kind, e.ref), limit) == everything
    with pytest.raises(UserNotFound):
        await store.user_timeline("usr_nobody", after=None, limit=10)


async def test_fleet_counts_devices_seen_and_offers_by_status(store: Store) -> None:
    empty = await store.fleet_counts(NOW)
    assert (empty.devices_seen_1h, empty.devices_seen_24h, empty.offers_by_status) == (0, 0, {})
    assert empty.open_reviews == 0
    await with_offer(store, "off_1")  # dev_1 enrolled (seen at NOW)
    await with_offer(store, "off_2")
    await store.withdraw_offer("off_1", actor="admin", reason_code="withdrawn", now=NOW + 1)
    await enrolled(store, "usr_2", "dev_2", "rt2")
    await sync(store, "dev_2", [])  # seen at NOW + 1
    hour = 3_600_000
    counts = await store.fleet_counts(NOW + hour + 1)  # dev_1 an hour and 1 ms ago
    assert (counts.devices_seen_1h, counts.devices_seen_24h) == (1, 2)
    assert counts.offers_by_status == {"offered": 1, "withdrawn": 1}
    later = await store.fleet_counts(NOW + 25 * hour)
    assert (later.devices_seen_1h, later.devices_seen_24h) == (0, 0)
    review = RequestReview(seq=1, created_at=NOW, offer_id="off_2")
    assert [r.status for r in (await sync(store, "dev_1", [item(review)])).results] == ["applied"]
    assert (await store.fleet_counts(NOW)).open_reviews == 1


async def test_the_doctor_reads_migrations_and_the_database_clock(store: Store) -> None:
    status = await store.migration_status()
    assert status.known == [m.name for m in MIGRATIONS]
    assert status.applied == sorted(status.known)
    before = int(time.time() * 1000)
    database = await store.database_time_ms()
    after = int(time.time() * 1000)
    # The suite's database runs on this machine: its clock is ours, give or take a second.
    assert before - 1000 <= database <= after + 1000
