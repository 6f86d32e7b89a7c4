"""Daily release: complete days only, the minimum-windows rule, the ε ledger and its lifetime cap,
retention, and the ledger entry and outbox row committed together."""

from __future__ import annotations

import pytest

from edge_sdk.client import EdgeClient
from edge_sdk.privacy.errors import InvalidPrivacySettings, InvalidTzOffset
from edge_sdk.privacy.settings import PrivacySettings
from edge_sdk.store.mirror import apply_change
from sync.messages import ConsentScope, Notice, SubmitAggregate
from tests.unit.edge_sdk.fakes import Clock
from tests.unit.edge_sdk.privacy.conftest import DAY_MS, PrivateClient, windows


def aggregates(client: EdgeClient) -> list[SubmitAggregate]:
    return [m for m in client.store.pending() if isinstance(m, SubmitAggregate)]


def test_complete_days_are_released_once(consenting: EdgeClient, clock: Clock) -> None:
    consenting.record_window_scores(windows("2024-03-08", 12) + windows("2024-03-09", 25))
    consenting.record_window_scores(windows("2024-03-10", 15, first_minute=60))  # today: not complete

    report = consenting.release_daily_aggregates()
    assert [(r.day, r.window_bucket, r.epsilon) for r in report.released] == [
        ("2024-03-08", 1, 1.0),
        ("2024-03-09", 2, 1.0),
    ]
    assert report.below_minimum == [] and report.over_cap == [] and not report.consent_missing
    queued = aggregates(consenting)
    assert [(a.day, a.seq, a.tz_offset_min, a.window_bucket, a.model_version) for a in queued] == [
        ("2024-03-08", 3, 60, 1, "m-1"),
        ("2024-03-09", 4, 60, 2, "m-1"),
    ]
    mech = queued[0].mechanism
    defaults = PrivacySettings()
    assert (mech.name, mech.stress.k, mech.valence.k, mech.arousal.k) == ("k_rr", *defaults.field_levels())
    assert (mech.stress.epsilon, mech.valence.epsilon, mech.arousal.epsilon) == pytest.approx(
        defaults.field_epsilons()
    )
    assert sum(defaults.field_epsilons()) == pytest.approx(defaults.epsilon_per_day)
    assert all(a.created_at == clock.now_ms for a in queued)

    # Calling again releases nothing new; the next day becomes complete tomorrow.
    assert consenting.release_daily_aggregates().released == []
    clock.advance(DAY_MS)
    assert [r.day for r in consenting.release_daily_aggregates().released] == ["2024-03-10"]
    assert len(aggregates(consenting)) == 3


def test_day_boundaries_follow_the_local_offset(make_private: PrivateClient, clock: Clock) -> None:
    client = make_private()
    client.set_consent(ConsentScope.INFERENCE, True)
    client.set_consent(ConsentScope.SHARE_AGGREGATES, True)
    # 23:30 UTC on 03-08 is 00:30 on 03-09 at UTC+1 but still 03-08 at UTC-5.
    late = windows("2024-03-09", 9, first_minute=30)
    client.record_window_scores(late, tz_offset_min=-300)
    client.record_window_scores(windows("2024-03-09", 10, first_minute=600))
    report = client.release_daily_aggregates()
    assert [r.day for r in report.released] == ["2024-03-09"]
    assert report.below_minimum == ["2024-03-08"]
    (released,) = aggregates(client)
    assert released.tz_offset_min == 60
    # "Today" comes from the offset too: at UTC-14 it is still 03-09 -> nothing more is complete.
    clock.advance(DAY_MS)
    client.record_window_scores(windows("2024-03-10", 10, first_minute=600))
    assert client.release_daily_aggregates(tz_offset_min=-840).released == []


def test_days_below_the_minimum_are_recorded_and_never_released(consenting: EdgeClient) -> None:
    consenting.record_window_scores(windows("2024-03-08", 9) + windows("2024-03-09", 10))
    report = consenting.release_daily_aggregates()
    assert report.below_minimum == ["2024-03-08"]
    assert [r.day for r in report.released] == ["2024-03-09"]
    ledger = consenting.privacy_ledger()
    assert [(e.day, e.status, e.epsilon, e.seq) for e in ledger.entries] == [
        ("2024-03-08", "below_minimum", 0.0, None),
        ("2024-03-09", "released", 1.0, 3),
    ]
    assert ledger.lifetime_epsilon == 1.0
    # A late window for the decided day changes nothing: the day stays unreleased.
    consenting.record_window_scores(windows("2024-03-08", 5, first_minute=900))
    assert consenting.release_daily_aggregates().below_minimum == []
    assert [a.day for a in aggregates(consenting)] == ["2024-03-09"]


def test_min_windows_is_configurable(make_private: PrivateClient) -> None:
    client = make_private(min_windows=3)
    client.set_consent(ConsentScope.INFERENCE, True)
    client.set_consent(ConsentScope.SHARE_AGGREGATES, True)
    client.record_window_scores(windows("2024-03-09", 3))
    assert [r.window_bucket for r in client.release_daily_aggregates().released] == [0]


def test_lifetime_cap_stops_every_further_release(make_private: PrivateClient, clock: Clock) -> None:
    client = make_private(
        epsilon_per_day=1.5, stress_share=0.5, valence_share=0.25, arousal_share=0.25, lifetime_cap=3.0
    )
    client.set_consent(ConsentScope.INFERENCE, True)
    client.set_consent(ConsentScope.SHARE_AGGREGATES, True)
    for day in ("2024-03-07", "2024-03-08", "2024-03-09"):
        client.record_window_scores(windows(day, 10))
    report = client.release_daily_aggregates()
    assert [r.day for r in report.released] == ["2024-03-07", "2024-03-08"]
    assert report.over_cap == ["2024-03-09"]
    ledger = client.privacy_ledger()
    assert (ledger.lifetime_epsilon, ledger.lifetime_cap, ledger.remaining) == (3.0, 3.0, 0.0)
    assert [e.day for e in ledger.entries] == ["2024-03-07", "2024-03-08"]
    assert [e.stress_epsilon for e in ledger.entries] == [0.75, 0.75]
    # Later days stay refused too, and nothing is spent.
    clock.advance(DAY_MS)
    client.record_window_scores(windows("2024-03-10", 10))
    again = client.release_daily_aggregates()
    assert again.released == [] and again.over_cap == ["2024-03-09", "2024-03-10"]
    assert len(aggregates(client)) == 2
    assert client.privacy_ledger().lifetime_epsilon == 3.0


def test_cap_counts_a_whole_year_of_default_days_exactly(make_private: PrivateClient) -> None:
    settings = PrivacySettings()
    # 0.5 + 0.25 + 0.25 summed 365 times must not refuse day 365 through float rounding.
    assert sum([sum(settings.field_epsilons())] * 365) <= settings.lifetime_cap + 1e-9


def test_without_share_aggregates_nothing_is_decided_or_queued(make_private: PrivateClient) -> None:
    client = make_private()
    client.set_consent(ConsentScope.INFERENCE, True)
    client.record_window_scores(windows("2024-03-08", 5) + windows("2024-03-09", 20))
    report = client.release_daily_aggregates()
    assert report.consent_missing and report.released == [] and report.below_minimum == []
    assert aggregates(client) == []
    assert client.privacy_ledger().entries == []
    # Granting later releases the complete days still held.
    client.set_consent(ConsentScope.SHARE_AGGREGATES, True)
    assert [r.day for r in client.release_daily_aggregates().released] == ["2024-03-09"]


def test_levels_follow_the_day_means_through_the_mechanism(make_private: PrivateClient) -> None:
    """With a coin that always tells the truth, the released levels are the discretised means."""
    client = make_private(random=lambda n: 0, stress_levels=3)
    client.set_consent(ConsentScope.INFERENCE, True)
    client.set_consent(ConsentScope.SHARE_AGGREGATES, True)
    client.record_window_scores(windows("2024-03-08", 10, stress=0.9, valence=-0.8, arousal=0.0))
    client.record_window_scores(windows("2024-03-09", 6, stress=0.1, valence=0.5, arousal=-0.9))
    client.record_window_scores(
        windows("2024-03-09", 6, stress=0.3, valence=0.5, arousal=-0.9, first_minute=700)
    )
    client.release_daily_aggregates()
    levels = [(a.levels.stress, a.levels.valence, a.levels.arousal) for a in aggregates(client)]
    assert levels == [(2, 0, 1), (0, 2, 0)]


def test_model_version_is_the_days_most_common(consenting: EdgeClient) -> None:
    consenting.record_window_scores(windows("2024-03-09", 6, model="m-1"))
    consenting.record_window_scores(windows("2024-03-09", 5, model="m-2", first_minute=700))
    consenting.release_daily_aggregates()
    assert [a.model_version for a in aggregates(consenting)] == ["m-1"]


def test_retention_purges_old_scores(consenting: EdgeClient, clock: Clock) -> None:
    consenting.record_window_scores(windows("2024-03-04", 3) + windows("2024-03-09", 3))
    assert len(consenting.window_scores()) == 6
    assert consenting.purge_expired() == 0
    # 03-04 08:03 local + 7 days is before 03-11 12:00.
    clock.advance(DAY_MS)
    assert consenting.purge_expired() == 3
    assert {s.end_ms for s in consenting.window_scores()} == {s.end_ms for s in windows("2024-03-09", 3)}
    # An explicit ``now`` far ahead purges the rest; a release purges as well.
    consenting.record_window_scores(windows("2024-03-10", 2))
    assert consenting.purge_expired(clock.now_ms + 8 * DAY_MS) == 5
    consenting.record_window_scores(windows("2024-03-10", 2, first_minute=600))
    clock.advance(8 * DAY_MS)
    assert consenting.release_daily_aggregates().purged == 2
    assert consenting.window_scores() == []


def test_retention_is_configurable(make_private: PrivateClient, clock: Clock) -> None:
    client = make_private(retention_days=1)
    client.set_consent(ConsentScope.INFERENCE, True)
    client.record_window_scores(windows("2024-03-09", 2, first_minute=20 * 60))
    assert client.purge_expired() == 0
    clock.advance(12 * 3_600_000)
    assert client.purge_expired() == 2
    # A window already past the retention period is not stored at all.
    assert client.record_window_scores(windows("2024-03-09", 2, first_minute=0)) == 0
    assert client.window_scores() == []


def test_a_failed_enqueue_leaves_no_ledger_entry(consenting: EdgeClient) -> None:
    consenting.record_window_scores(windows("2024-03-08", 10) + windows("2024-03-09", 10))

    class Crash(BaseException):
        pass

    # The ledger entry and the outbox row share one transaction: failing the write of the second
    # aggregate rolls back the whole release, the first day's ledger entry included.
    original = consenting.store.enqueue

    def failing(build):  # type: ignore[no-untyped-def]
        if len(aggregates(consenting)) == 1:
            raise Crash
        return original(build)

    consenting.store.enqueue = failing  # type: ignore[method-assign]
    with pytest.raises(Crash):
        consenting.release_daily_aggregates()
    consenting.store.enqueue = original  # type: ignore[method-assign]
    assert aggregates(consenting) == []
    assert consenting.privacy_ledger().entries == []
    assert [r.day for r in consenting.release_daily_aggregates().released] == ["2024-03-08", "2024-03-09"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"retention_days": 0},
        {"min_windows": 0},
        {"epsilon_per_day": 0.0},
        {"epsilon_per_day": float("nan")},
        {"stress_share": 0.9},
        {"stress_share": 0.0, "valence_share": 0.5, "arousal_share": 0.5},
        {"epsilon_per_day": 30.0},
        {"stress_levels": 1},
        {"arousal_levels": 17},
        {"lifetime_cap": 0.5},
        {"lifetime_cap": float("inf")},
    ],
)
def test_bad_privacy_settings_are_refused(overrides: dict[str, float]) -> None:
    with pytest.raises(InvalidPrivacySettings):
        PrivacySettings(**overrides)  # type: ignore[arg-type]


@pytest.mark.parametrize("offset", [900, -841, True, "60"])
def test_bad_offsets_are_refused(consenting: EdgeClient, offset: object) -> None:
    with pytest.raises(InvalidTzOffset):
        consenting.release_daily_aggregates(tz_offset_min=offset)  # type: ignore[arg-type]
    with pytest.raises(InvalidTzOffset):
        consenting.record_window_scores(windows("2024-03-09", 1), tz_offset_min=offset)  # type: ignore[arg-type]
    assert consenting.window_scores() == []


def test_bad_offset_from_settings_is_refused(make_private: PrivateClient) -> None:
    client = make_private(tz_offset_min=lambda _ms: 2000)
    client.set_consent(ConsentScope.INFERENCE, True)
    with pytest.raises(InvalidTzOffset):
        client.record_window_scores(windows("2024-03-09", 1))


def test_acknowledged_notices_are_purged_after_theirs(make_private: PrivateClient, clock: Clock) -> None:
    client = make_private(notice_retention_days=2)
    old = clock.now_ms - DAY_MS
    notices = [
        Notice(version=1, notice_id="read", kind="info", title="t", body="b", created_at=old, acked=True),
        Notice(version=2, notice_id="unread", kind="info", title="t", body="b", created_at=old),
        Notice(
            version=3,
            notice_id="fresh",
            kind="info",
            title="t",
            body="b",
            created_at=clock.now_ms,
            acked=True,
        ),
    ]
    with client.store.atomic() as db:
        for notice in notices:
            apply_change(db, notice)
    assert client.purge_expired() == 0
    clock.advance(DAY_MS + 1)
    # Only the acknowledged notice past its two days goes; an unread one stays whatever its age.
    assert client.purge_expired() == 1
    assert [n.notice_id for n in client.notices()] == ["unread", "fresh"]
    clock.advance(2 * DAY_MS)
    client.release_daily_aggregates()
    assert [n.notice_id for n in client.notices()] == ["unread"]


def test_notice_retention_is_bounded() -> None:
    with pytest.raises(InvalidPrivacySettings, match="notice_retention_days"):
        PrivacySettings(notice_retention_days=0)
