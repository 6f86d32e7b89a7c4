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
from cloud.domain.analytics.reports import field_reports, grouped_reports, one_model
from cloud.domain.analytics.services import AnalyticsService, StoreStressSignal, window
from cloud.domain.analytics.signal import NoStressSignal, StressSignal
from cloud.domain.sync.digest import mutation_digest
from cloud.store.engines.sqlite import open_sqlite_store
from cloud.store.protocol import Store
from cloud.store.records import AggregateGroupRecord, AggregateRecord, PushItem, RefreshGrant
from sync.messages import FieldMechanism, Levels, Mechanism, SubmitAggregate
from tests.conformance.test_store_conformance import sharing

NOW = 1_700_000_000_000


def _aggregate(
    seq: int, day: str, stress: int, k: int = 3, epsilon: float = 0.5, model_version: str = "m1"
) -> SubmitAggregate:
    other = FieldMechanism(k=3, epsilon=0.25)
    return SubmitAggregate(
        seq=seq,
        created_at=NOW,
        day=day,
        tz_offset_min=60,
        window_bucket=3,
        levels=Levels(stress=stress, valence=1, arousal=0),
        mechanism=Mechanism(stress=FieldMechanism(k=k, epsilon=epsilon), valence=other, arousal=other),
        model_version=model_version,
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
        assert got == msgspec.structs.replace(
            stress_posterior(data.days, data.reports, BetaPrior()), model_version="m1"
        )
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
        analytics = AnalyticsService(store)
        one_day = await analytics.population("stress", date(2024, 5, 1), 1)
        assert one_day.skipped == 0 and [(d.model_version, d.k, d.n) for d in one_day.distributions] == [
            ("m1", 3, 40)
        ]
        assert {(g.epsilon, g.n) for g in one_day.distributions[0].groups} == {(0.5, 20), (1.0, 20)}
        two_days = await analytics.population("stress", date(2024, 5, 2), 2)
        assert sorted((d.k, d.n) for d in two_days.distributions) == [(3, 40), (5, 1)]
        valence = await analytics.population("valence", date(2024, 5, 1), 1)
        assert [g.epsilon for g in valence.distributions[0].groups] == [0.25]
        empty = await analytics.population("stress", date(2020, 1, 1), 1)
        assert (empty.n, empty.distributions) == (0, [])

    _run(tmp_path, body)


def test_two_models_reports_are_never_pooled(tmp_path: Path) -> None:
    """Population estimates come per model version; a user's estimate uses one model's reports,
    the one with the most days reported in the window (a tie: the one reported last)."""

    async def body(store: Store) -> None:
        await _device(store, "usr_a", "dev_a")
        old = [_aggregate(i + 1, f"2024-01-0{i + 1}", 0, model_version="m1") for i in range(3)]
        new = [_aggregate(i + 4, f"2024-01-0{i + 4}", 2, model_version="m2") for i in range(2)]
        await _push(store, "dev_a", [*old, *new])
        analytics = AnalyticsService(store)
        population = await analytics.population("stress", date(2024, 1, 5), 5)
        assert [(d.model_version, d.k, d.n) for d in population.distributions] == [("m1", 3, 3), ("m2", 3, 2)]
        assert population.n == 5
        signal = StoreStressSignal(store, window_days=5)
        got = await signal.stress("usr_a", date(2024, 1, 5))
        assert got is not None and (got.model_version, got.n_days) == ("m1", 3)
        await _push(store, "dev_a", [_aggregate(6, "2024-01-06", 2, model_version="m2")])
        later = await signal.stress("usr_a", date(2024, 1, 6))  # m1: 2 days in the window, m2: 3
        assert later is not None and (later.model_version, later.n_days, later.recent_day) == (
            "m2",
            3,
            "2024-01-06",
        )

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


def _record(day: str, model_version: str, received_at: int) -> AggregateRecord:
    return AggregateRecord(
        device_id="d", lineage_id="d", seq=1, day=day, tz_offset_min=0, window_bucket=1,
        levels={"stress": 0, "valence": 0, "arousal": 0}, mechanism={}, model_version=model_version,
        created_at=received_at, received_at=received_at,
    )  # fmt: skip


ONE_MODEL_CASES: list[tuple[str, list[tuple[str, str, int]], str | None]] = [
    ("none", [], None),
    ("one model", [("2024-01-01", "a", 1), ("2024-01-02", "a", 2)], "a"),
    ("most days wins", [("2024-01-01", "a", 9), ("2024-01-02", "b", 1), ("2024-01-03", "b", 2)], "b"),
    (
        "days, not reports",
        [
            ("2024-01-01", "a", 1),
            ("2024-01-01", "a", 2),
            ("2024-01-01", "a", 3),
            ("2024-01-01", "b", 1),
            ("2024-01-02", "b", 1),
        ],
        "b",
    ),
    ("a tie goes to the one reported last", [("2024-01-01", "b", 1), ("2024-01-02", "a", 5)], "a"),
]


@pytest.mark.parametrize(
    ("rows", "chosen"), [c[1:] for c in ONE_MODEL_CASES], ids=[c[0] for c in ONE_MODEL_CASES]
)
def test_one_model(rows: list[tuple[str, str, int]], chosen: str | None) -> None:
    version, kept = one_model([_record(*row) for row in rows])
    assert version == chosen
    assert {r.model_version for r in kept} == (set() if chosen is None else {chosen})
