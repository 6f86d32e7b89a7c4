"""Real concurrency, on every engine: two stores on one database are two processes.

Each store has its own connection (SQLite) or pool (PostgreSQL), and their transactions run on
threads at the same time, so these races happen for real: on PostgreSQL the row locks and
conditional updates of the scripts decide them, on SQLite its single writer does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from cloud.settings import DatabaseSettings
from cloud.store import Store, open_store
from sync.codec import decode_change
from sync.messages import AcceptOffer, Notice, OfferStatus
from tests.conformance.test_store_conformance import (
    NOW,
    aggregate,
    enrolled,
    item,
    profile_record,
    sharing,
    sync,
    with_offer,
)

pytestmark = pytest.mark.anyio

ROUNDS = 5


@pytest.fixture
async def other(database: DatabaseSettings, store: Store) -> AsyncIterator[Store]:
    """A second store on the same database (``store`` has migrated it)."""
    opened = await open_store(database)
    try:
        yield opened
    finally:
        await opened.close()


async def test_one_devices_request_racing_its_resend_is_processed_once(store: Store, other: Store) -> None:
    await enrolled(store)
    await sharing(store)
    for round_ in range(ROUNDS):
        batch = [
            item(aggregate(2 * round_ + 1, f"2024-02-{2 * round_ + 1:02d}")),
            item(aggregate(2 * round_ + 2, f"2024-02-{2 * round_ + 2:02d}")),
        ]
        first, second = await asyncio.gather(sync(store, "dev_1", batch), sync(other, "dev_1", batch))
        fresh = [r for o in (first, second) for r in o.results if not r.replay]
        assert [r.status for r in fresh] == ["applied", "applied"], (first.results, second.results)
        assert first.last_seq == second.last_seq == 2 * round_ + 2
    view = await store.user_view("usr_1")
    assert [a.seq for a in view.aggregates] == list(range(1, 2 * ROUNDS + 1))


async def test_two_devices_accepting_one_offer_at_once_one_wins(store: Store, other: Store) -> None:
    await enrolled(store)
    await enrolled(store, device_id="dev_2", refresh_hash="rt-2")
    await store.set_profile(profile_record(), actor="admin", reason_code="profile_set")
    for round_ in range(ROUNDS):
        offer_id = await with_offer(store, f"off_{round_}")
        a, b = await asyncio.gather(
            sync(store, "dev_1", [item(AcceptOffer(seq=round_ + 1, created_at=NOW, offer_id=offer_id))]),
            sync(other, "dev_2", [item(AcceptOffer(seq=round_ + 1, created_at=NOW, offer_id=offer_id))]),
        )
        outcomes = sorted((r.status, r.code) for o in (a, b) for r in o.results)
        assert outcomes == [("applied", None), ("rejected", "offer_not_open")]
        assert len(a.outbox) + len(b.outbox) == 1
        trail = await store.audit_trail(offer_id=offer_id)
        assert [e.to_status for e in trail] == ["offered", "accepted"]


async def test_many_writers_to_one_user_never_skip_or_repeat_a_version(store: Store, other: Store) -> None:
    await enrolled(store)
    writers = [
        (store if i % 2 else other).append_notice(
            user_id="usr_1", notice_id=f"n{i}", kind="k", title="t", body="b", now=NOW
        )
        for i in range(20)
    ]
    versions = await asyncio.gather(*writers)
    assert sorted(versions) == list(range(1, 21))
    pulled = await sync(store, "dev_1", [], after=0, limit=100)
    assert [c.version for c in pulled.changes] == list(range(1, 21))
    notices = [decode_change(c.body) for c in pulled.changes]
    assert all(isinstance(n, Notice) for n in notices)


async def test_two_workers_racing_on_one_outbox_row_apply_it_once(store: Store, other: Store) -> None:
    for round_ in range(ROUNDS):
        if round_:
            # Back on the base the next offer is made on.
            await store.set_profile(profile_record(at=NOW + round_), actor="admin", reason_code="profile_set")
        offer_id = await with_offer(store, f"off_{round_}")
        outcome = await sync(
            store, "dev_1", [item(AcceptOffer(seq=round_ + 1, created_at=NOW, offer_id=offer_id))]
        )
        (row,) = outcome.outbox
        results = await asyncio.gather(
            store.apply_offer(row.outbox_id, ref="job:a", now=NOW + 10),
            other.apply_offer(row.outbox_id, ref="job:b", now=NOW + 10),
        )
        assert sorted(results) == ["already_done", "applied"], results
        offer = await store.get_offer(offer_id)
        assert offer is not None and offer.status == OfferStatus.APPLIED.value
        trail = await store.audit_trail(offer_id=offer_id)
        assert [e.to_status for e in trail].count("applied") == 1
        # One apply moved the limit.
        profile = await store.get_profile("usr_1")
        assert profile is not None and profile.limit_cents == 150_000


async def test_two_relays_take_a_rows_next_attempt_once(store: Store, other: Store) -> None:
    offer_id = await with_offer(store)
    await sync(store, "dev_1", [item(AcceptOffer(seq=1, created_at=NOW, offer_id=offer_id))])
    for attempt in (1, 2):
        at = NOW + 1 + 1000 * attempt
        a, b = await asyncio.gather(
            store.relay_outbox(now=at, timeout_ms=1000, max_attempts=10),
            other.relay_outbox(now=at, timeout_ms=1000, max_attempts=10),
        )
        assert sorted(len(o.requeued) for o in (a, b)) == [0, 1]
        assert [r.attempts for o in (a, b) for r in o.requeued] == [attempt]


async def test_processes_migrating_at_once_apply_each_migration_once(database: DatabaseSettings) -> None:
    stores = [await open_store(database) for _ in range(3)]
    try:
        applied = await asyncio.gather(*(s.migrate() for s in stores))
        done = [names for names in applied if names]
        assert len(done) == 1, applied
        for s in stores:
            assert await s.migrate() == []
    finally:
        for s in stores:
            await s.close()
