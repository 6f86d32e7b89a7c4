"""The stress signal and population estimates read from a real SQLite store file."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path

import msgspec
import numpy as np
import pytest

from cloud.domain.analytics.estimators import estimate_distribution
from cloud.domain.analytics.posterior import BetaPrior, stress_posterior
from cloud.domain.analytics.reports import field_reports, grouped_reports
from cloud.domain.analytics.services import StoreStressSignal, population_estimate, window
from cloud.domain.analytics.signal import NoStressSignal, StressSignal
from cloud.domain.sync.digest import mutation_digest
from cloud.store.engines.sqlite import open_sqlite_store
from cloud.store.protocol import Store
from cloud.store.records import AggregateGroupRecord, AggregateRecord, PushItem, RefreshGrant
from sync.messages import FieldMechanism, Levels, Mechanism, SubmitAggregate
from tests.conformance.test_store_conformance import sharing

NOW = 1_700_000_000_000


def _aggregate(seq: int, day: str, stress: int, k: int = 3, epsilon: float = 0.5) -> SubmitAggregate:
    other = FieldMechanism(k=3, epsilon=0.25)
    return SubmitAggregate(
        seq=seq,
        created_at=NOW,
        day=day,
        tz_offset_min=60,
        window_bucket=3,
        levels=Levels(stress=stress, valence=1, arousal=0),
        mechanism=Mechanism(stress=FieldMechanism(k=k, epsilon=epsilon), valence=other, arousal=other),
        model_version="m1",
    )


async def _device(store: Store, user_id: str, device_id: str) -> None:
    """Enroll a device for ``user_id``; a new user grants ``share_aggregates`` first, through the
    protocol from a device of its own, so the devices' aggregates are stored."""
    if await store.get_user(user_id) is None:
        await store.create_user(user_id, None, NOW)
        await sharing(store, user_id)
    await store.create_enrollment_code(user_id, f"code-{device_id}", NOW + 10**9, NOW)
    await store.enroll_device(
        code_hash=f"code-{device_id}",
        device_id=device_id,
        platform="android",
        app_version="1",
        refresh=RefreshGrant(token_hash=f"rt-{device_id}", expires_at=NOW + 10**9),
        now=NOW,
    )


async def _push(store: Store, device_id: str, aggregates: list[SubmitAggregate]) -> None:
    items = [PushItem(seq=a.seq, mutation=a, digest=mutation_digest(a)) for a in aggregates]
    outcome = await store.sync(
        device_id=device_id, items=items, skew_ms=0, after_version=0, pull_limit=10, now=NOW
    )
    assert [r.status for r in outcome.results] == ["applied"] * len(aggregates)


def _run(tmp_path: Path, body: Callable[[Store], Awaitable[None]]) -> None:
    async def main() -> None:
        store = await open_sqlite_store(tmp_path / "store.sqlite3")
        await store.migrate()
        try:
            await body(store)
        finally:
            await store.close()

    asyncio.run(main())


def test_window() -> None:
    assert window(date(2024, 3, 2), 7) == ("2024-02-25", "2024-03-02")
    assert window(date(2024, 3, 2), 1) == ("2024-03-02", "2024-03-02")
    with pytest.raises(ValueError, match="window_days"):
        window(date(2024, 3, 2), 0)
    with pytest.raises(ValueError, match="window_days"):
        StoreStressSignal(None, window_days=0)  # type: ignore[arg-type]


def test_no_signal_implementation_has_no_signal() -> None:
    signal: StressSignal = NoStressSignal()
    assert asyncio.run(signal.stress("usr_1", date(2024, 1, 1))) is None


def test_store_signal_reads_the_users_recent_days(tmp_path: Path) -> None:
    async def body(store: Store) -> None:
        await _device(store, "usr_a", "dev_a")
        await _device(store, "usr_b", "dev_b")
        # usr_a: 2024-01-01 is outside the 7-day window ending 2024-01-10; four days inside it,
        # one of them after the as-of day (ignored too).
        days = ["2024-01-01", "2024-01-04", "2024-01-06", "2024-01-09", "2024-01-10", "2024-01-11"]
        levels = [0, 2, 2, 0, 2, 0]
        await _push(
            store,
            "dev_a",
            [_aggregate(i + 1, d, s) for i, (d, s) in enumerate(zip(days, levels, strict=True))],
        )
        await _push(store, "dev_b", [_aggregate(1, "2024-01-09", 2)])
        signal: StressSignal = StoreStressSignal(store)
        got = await signal.stress("usr_a", date(2024, 1, 10))
        assert got is not None
        assert (got.n_days, got.recent_day) == (4, "2024-01-10")
        data = field_reports(await store.user_aggregates("usr_a", "2024-01-04", "2024-01-10"), "stress")
        assert got == stress_posterior(data.days, data.reports, BetaPrior())
        assert data.days == ["2024-01-04", "2024-01-06", "2024-01-09", "2024-01-10"]
        # No report in the window, or an unknown user: no signal.
        assert await signal.stress("usr_a", date(2023, 12, 1)) is None
        assert await signal.stress("usr_nobody", date(2024, 1, 10)) is None
        # A prior from elsewhere is used as given.
        informed = await StoreStressSignal(store, BetaPrior(3.0, 2.0), window_days=1).stress(
            "usr_b", date(2024, 1, 9)
        )
        assert informed is not None and informed.n_days == 1 and informed.posterior_mean > 0.6

    _run(tmp_path, body)


def test_population_estimate_over_stored_reports(tmp_path: Path) -> None:
    async def body(store: Store) -> None:
        rng = np.random.default_rng(3)
        levels = rng.integers(0, 3, size=40)
        for u in range(40):
            await _device(store, f"usr_{u}", f"dev_{u}")
            eps = 0.5 if u % 2 else 1.0
            await _push(store, f"dev_{u}", [_aggregate(1, "2024-05-01", int(levels[u]), epsilon=eps)])
        await _push(store, "dev_0", [_aggregate(2, "2024-05-02", 1, k=5)])
        one_day, skipped = await population_estimate(store, "stress", date(2024, 5, 1))
        assert skipped == 0 and list(one_day) == [3] and one_day[3].n == 40
        assert {(g.epsilon, g.n) for g in one_day[3].groups} == {(0.5, 20), (1.0, 20)}
        two_days, _ = await population_estimate(store, "stress", date(2024, 5, 2), window_days=2)
        assert sorted(two_days) == [3, 5] and two_days[5].n == 1
        valence, _ = await population_estimate(store, "valence", date(2024, 5, 1))
        assert [g.epsilon for g in valence[3].groups] == [0.25]
        empty, _ = await population_estimate(store, "stress", date(2020, 1, 1))
        assert empty == {}

    _run(tmp_path, body)


def test_unknown_mechanisms_are_skipped_and_counted() -> None:
    good = {"name": "k_rr", "stress": {"k": 3, "epsilon": 0.5}, "valence": {"k": 3, "epsilon": 0.25},
            "arousal": {"k": 3, "epsilon": 0.25}}  # fmt: skip
    records = [
        AggregateRecord(
            device_id="d",
            lineage_id="d",
            seq=i + 1,
            day="2024-01-01",
            tz_offset_min=0,
            window_bucket=1,
            levels={"stress": 1, "valence": 0, "arousal": 0},
            mechanism=mechanism,
            model_version="m",
            created_at=NOW,
            received_at=NOW,
        )
        for i, mechanism in enumerate([good, {**good, "name": "laplace"}, {"name": "k_rr"}])
    ]
    data = field_reports(records, "stress")
    assert data.skipped == 2 and len(data.reports) == 1 and data.days == ["2024-01-01"]
    groups = [AggregateGroupRecord(levels=r.levels, mechanism=r.mechanism, count=3) for r in records]
    reports, skipped = grouped_reports(groups, "stress")
    assert skipped == 6 and len(reports) == 3


def test_grouped_reports_equal_the_reports_of_every_aggregate() -> None:
    """The population estimate reads counted groups; they hold the same reports as the rows."""
    rng = np.random.default_rng(7)
    records = [
        AggregateRecord(
            device_id=f"d{i}",
            lineage_id=f"d{i}",
            seq=1,
            day="2024-01-01",
            tz_offset_min=0,
            window_bucket=1,
            levels={"stress": int(rng.integers(0, k)), "valence": 0, "arousal": 0},
            mechanism=msgspec.to_builtins(_aggregate(1, "2024-01-01", 0, k=k, epsilon=eps).mechanism),
            model_version="m",
            created_at=NOW,
            received_at=NOW,
        )
        for i, (k, eps) in enumerate([(3, 0.5), (3, 1.0), (5, 0.5)] * 40)
    ]
    counted: dict[tuple[str, str], int] = {}
    for r in records:
        key = (msgspec.json.encode(r.levels).decode(), msgspec.json.encode(r.mechanism).decode())
        counted[key] = counted.get(key, 0) + 1
    groups = [
        AggregateGroupRecord(levels=msgspec.json.decode(lv), mechanism=msgspec.json.decode(m), count=n)
        for (lv, m), n in counted.items()
    ]
    reports, skipped = grouped_reports(groups, "stress")
    expected = field_reports(records, "stress").reports
    assert skipped == 0 and len(reports) == len(records) == 120
    order = np.lexsort((reports.levels, reports.epsilon, reports.k))
    expected_order = np.lexsort((expected.levels, expected.epsilon, expected.k))
    for column in ("levels", "k", "epsilon"):
        assert np.array_equal(getattr(reports, column)[order], getattr(expected, column)[expected_order])
    got, want = estimate_distribution(reports)[3], estimate_distribution(expected)[3]
    assert got.estimate.tolist() == want.estimate.tolist()
