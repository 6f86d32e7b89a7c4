"""Daily aggregates: from stored window scores to ``SubmitAggregate`` mutations, with the ε ledger.

For each complete local day (before today on the device's local clock) that the ledger has not
decided yet:

- fewer than ``min_windows`` windows: recorded as ``below_minimum``; nothing leaves, no ε spent;
- the lifetime cap would be exceeded: skipped (reported, nothing recorded, nothing leaves);
- otherwise: the day's means are discretised into levels, each released through k-ary
  randomized response with its share of the day's ε, and the ledger entry and the outbox row are
  written in one local transaction.

Only the day, its UTC offset, a coarse window-count bucket, the three released levels, the
mechanism parameters and the model version leave the device: never a window, an event or a score.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Final

import msgspec

from edge_sdk.privacy.mechanism import (
    AROUSAL_RANGE,
    STRESS_RANGE,
    VALENCE_RANGE,
    discretise,
    randbelow_of,
)
from edge_sdk.privacy.scores import local_day
from edge_sdk.privacy.settings import PrivacySettings
from edge_sdk.store import privacy as tables
from edge_sdk.store.local import LocalStore
from edge_sdk.store.mirror import purge_acked_notices
from sync.messages import ConsentScope, FieldMechanism, Levels, Mechanism, SubmitAggregate
from sync.rr import K_RR, release_levels

MAX_WINDOW_BUCKET: Final = 7
_CAP_TOLERANCE: Final = 1e-9
"""Float sums of the split shares (0.5 + 0.25 + 0.25 ...) must not refuse the last whole day."""


def window_bucket(windows: int) -> int:
    """Coarse bucket of a day's window count (released as is, not randomised).

    Doubling bins from the minimum of 10: 1 = 10-19, 2 = 20-39, 3 = 40-79, 4 = 80-159,
    5 = 160-319, 6 = 320-639, 7 = 640 or more (over ten hours of 60 s windows); 0 = fewer than 10
    (never released).
    """
    if windows < 10:
        return 0
    return min(MAX_WINDOW_BUCKET, int(math.log2(windows / 10)) + 1)


@dataclass(frozen=True, slots=True)
class DayStats:
    """One local day's windows, summarised (on the device only)."""

    day: str
    windows: int
    stress_mean: float
    valence_mean: float
    arousal_mean: float
    tz_offset_min: int
    """The offset of the day's last window (the device's clock when the day ended)."""
    model_version: str
    """The model that scored most of the day's windows (the latest of equally many)."""


def day_stats(rows: Sequence[tables.ScoreRow]) -> list[DayStats]:
    """Per-day summaries of ``rows`` (in time order), oldest day first."""
    by_day: dict[str, list[tables.ScoreRow]] = {}
    for row in rows:
        by_day.setdefault(row.local_day, []).append(row)
    stats: list[DayStats] = []
    for day in sorted(by_day):
        group = by_day[day]
        counts = Counter(r.model_version for r in group)
        top = max(counts.values())
        model = next(r.model_version for r in reversed(group) if counts[r.model_version] == top)
        n = len(group)
        stats.append(
            DayStats(
                day=day,
                windows=n,
                stress_mean=math.fsum(r.stress_prob for r in group) / n,
                valence_mean=math.fsum(r.valence for r in group) / n,
                arousal_mean=math.fsum(r.arousal for r in group) / n,
                tz_offset_min=group[-1].tz_offset_min,
                model_version=model,
            )
        )
    return stats


def mechanism_of(settings: PrivacySettings) -> Mechanism:
    (es, ev, ea), (ks, kv, ka) = settings.field_epsilons(), settings.field_levels()
    return Mechanism(
        name=K_RR,
        stress=FieldMechanism(k=ks, epsilon=es),
        valence=FieldMechanism(k=kv, epsilon=ev),
        arousal=FieldMechanism(k=ka, epsilon=ea),
    )


def true_levels(stats: DayStats, settings: PrivacySettings) -> Levels:
    """The day's levels before randomisation (never stored, never sent)."""
    ks, kv, ka = settings.field_levels()
    return Levels(
        stress=discretise(stats.stress_mean, STRESS_RANGE, ks),
        valence=discretise(stats.valence_mean, VALENCE_RANGE, kv),
        arousal=discretise(stats.arousal_mean, AROUSAL_RANGE, ka),
    )


def _aggregate(
    stats: DayStats, bucket: int, levels: Levels, mechanism: Mechanism, created_at: int, seq: int
) -> SubmitAggregate:
    return SubmitAggregate(
        seq=seq,
        created_at=created_at,
        day=stats.day,
        tz_offset_min=stats.tz_offset_min,
        window_bucket=bucket,
        levels=levels,
        mechanism=mechanism,
        model_version=stats.model_version,
    )


class ReleasedDay(msgspec.Struct, frozen=True, kw_only=True):
    day: str
    seq: int
    """The outbox seq of its ``SubmitAggregate``."""
    epsilon: float
    window_bucket: int


class ReleaseReport(msgspec.Struct, frozen=True, kw_only=True):
    """What one ``release_daily_aggregates`` call did."""

    released: list[ReleasedDay]
    below_minimum: list[str]
    """Complete days with too few windows: recorded in the ledger with ε 0, never released."""
    over_cap: list[str]
    """Days not released because the lifetime ε cap would be exceeded (not recorded)."""
    consent_missing: bool
    """``share_aggregates`` is not granted: nothing was decided or queued."""
    purged: int
    """Window scores erased as past their retention."""


def release(
    store: LocalStore, settings: PrivacySettings, *, now_ms: int, tz_offset_min: int
) -> ReleaseReport:
    """Purge expired scores, then release every complete, undecided day (see the module doc).

    Everything happens in one store transaction: the consent check, the ledger entries and the
    outbox rows commit together, so a revoke cannot slip in between and a crash leaves either the
    whole release or none of it.
    """
    randbelow = randbelow_of(settings.random)
    mechanism = mechanism_of(settings)
    today = local_day(now_ms, tz_offset_min)
    with store.atomic() as db:
        purged = tables.purge_scores(db, now_ms - settings.retention_ms)
        purge_acked_notices(db, now_ms - settings.notice_retention_ms)
        if not tables.effective_consent(db).get(str(ConsentScope.SHARE_AGGREGATES), False):
            return ReleaseReport(
                released=[], below_minimum=[], over_cap=[], consent_missing=True, purged=purged
            )
        decided = tables.ledger_days(db)
        spent = tables.lifetime_epsilon(db)
        released: list[ReleasedDay] = []
        below: list[str] = []
        over: list[str] = []
        es, ev, ea = settings.field_epsilons()
        for stats in day_stats(tables.read_scores(db, before_day=today)):
            if stats.day in decided:
                continue
            if stats.windows < settings.min_windows:
                tables.insert_ledger(
                    db,
                    tables.LedgerRow(stats.day, tables.BELOW_MINIMUM, 0.0, 0.0, 0.0, 0.0, None, None, now_ms),
                )
                below.append(stats.day)
                continue
            if spent + settings.epsilon_per_day > settings.lifetime_cap + _CAP_TOLERANCE:
                over.append(stats.day)
                continue
            bucket = window_bucket(stats.windows)
            levels = release_levels(true_levels(stats, settings), mechanism, randbelow)
            mutation = store.enqueue(partial(_aggregate, stats, bucket, levels, mechanism, now_ms))
            tables.insert_ledger(
                db,
                tables.LedgerRow(
                    stats.day,
                    tables.RELEASED,
                    settings.epsilon_per_day,
                    es,
                    ev,
                    ea,
                    bucket,
                    mutation.seq,
                    now_ms,
                ),
            )
            spent += settings.epsilon_per_day
            released.append(
                ReleasedDay(
                    day=stats.day, seq=mutation.seq, epsilon=settings.epsilon_per_day, window_bucket=bucket
                )
            )
        return ReleaseReport(
            released=released, below_minimum=below, over_cap=over, consent_missing=False, purged=purged
        )
