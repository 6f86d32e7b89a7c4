"""Analytics over the store: the real :class:`StressSignal` and the population estimates."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta

import msgspec

from cloud.clock import now_ms
from cloud.domain.analytics.estimators import DistributionEstimate, estimate_distribution
from cloud.domain.analytics.posterior import WINDOW_DAYS, BetaPrior, stress_posterior
from cloud.domain.analytics.reports import Field, by_model, field_reports, grouped_reports, one_model
from cloud.domain.analytics.schemas import (
    DistributionOut,
    LevelOut,
    MechanismGroupOut,
    PopulationStressOut,
    UserStressOut,
)
from cloud.domain.analytics.signal import StressEstimate
from cloud.store.errors import UserNotFound
from cloud.store.protocol import Store
from cloud.store.records import AggregateGroupRecord


def window(as_of_day: date, window_days: int) -> tuple[str, str]:
    """``(first_day, last_day)`` of the ``window_days`` days ending on ``as_of_day`` (inclusive)."""
    if window_days < 1:
        raise ValueError(f"window_days must be at least 1, got {window_days}")
    return (as_of_day - timedelta(days=window_days - 1)).isoformat(), as_of_day.isoformat()


class StoreStressSignal:
    """The :class:`~cloud.domain.analytics.signal.StressSignal` computed from stored aggregates.

    Reads the user's aggregates of the last ``window_days`` days (default 7) up to ``as_of_day``
    and returns the posterior of :mod:`cloud.domain.analytics.posterior`; ``None`` when the user
    has no report in the window (no consent to share, new user, or nothing released), so "no
    data" and "no analytics" look the same to the offers domain.
    """

    def __init__(self, store: Store, prior: BetaPrior | None = None, window_days: int = WINDOW_DAYS) -> None:
        if window_days < 1:
            raise ValueError(f"window_days must be at least 1, got {window_days}")
        self._store = store
        self._prior = prior or BetaPrior()
        self._window_days = window_days

    async def stress(self, user_id: str, as_of_day: date) -> StressEstimate | None:
        first, last = window(as_of_day, self._window_days)
        model_version, aggregates = one_model(await self._store.user_aggregates(user_id, first, last))
        data = field_reports(aggregates, "stress")
        if len(data.reports) == 0:
            return None
        estimate = stress_posterior(data.days, data.reports, self._prior)
        return msgspec.structs.replace(estimate, model_version=model_version)


def _estimate(
    groups: list[AggregateGroupRecord], field: Field
) -> tuple[dict[int, DistributionEstimate], int]:
    reports, skipped = grouped_reports(groups, field)
    if len(reports) == 0:
        return {}, skipped
    return estimate_distribution(reports), skipped


def distribution_out(est: DistributionEstimate, model_version: str = "") -> DistributionOut:
    shown, shown_lower, shown_upper = est.display()
    return DistributionOut(
        model_version=model_version,
        k=est.k,
        n=est.n,
        groups=[MechanismGroupOut(epsilon=g.epsilon, n=g.n, p_true=g.p, weight=g.weight) for g in est.groups],
        levels=[
            LevelOut(
                level=j,
                estimate=float(est.estimate[j]),
                std_error=float(est.std_error[j]),
                lower=float(est.lower[j]),
                upper=float(est.upper[j]),
                shown=float(shown[j]),
                shown_lower=float(shown_lower[j]),
                shown_upper=float(shown_upper[j]),
            )
            for j in range(est.k)
        ],
    )


class AnalyticsService:
    """What the analytics admin endpoints call; also holds the :class:`StoreStressSignal`."""

    def __init__(
        self,
        store: Store,
        clock: Callable[[], int] = now_ms,
        prior: BetaPrior | None = None,
        window_days: int = WINDOW_DAYS,
    ) -> None:
        self._store = store
        self._clock = clock
        self.window_days = window_days
        self.signal = StoreStressSignal(store, prior, window_days)

    def today(self) -> date:
        """The server's current UTC day (a user's local day may differ by one)."""
        return datetime.fromtimestamp(self._clock() / 1000, tz=UTC).date()

    async def population_stress(self, as_of_day: date, window_days: int) -> PopulationStressOut:
        return await self.population("stress", as_of_day, window_days)

    async def population(self, field: Field, as_of_day: date, window_days: int) -> PopulationStressOut:
        """The debiased population distribution of one reported field (stress, valence, arousal)."""
        return (await self.populations((field,), as_of_day, window_days))[field]

    async def populations(
        self, fields: Sequence[Field], as_of_day: date, window_days: int
    ) -> dict[Field, PopulationStressOut]:
        """:meth:`population` of several fields from one read of the window's reports."""
        first, last = window(as_of_day, window_days)
        models = by_model(await self._store.aggregate_groups(first, last))
        out: dict[Field, PopulationStressOut] = {}
        for field in fields:
            distributions: list[DistributionOut] = []
            skipped = 0
            for model_version, groups in models.items():
                estimates, model_skipped = _estimate(groups, field)
                skipped += model_skipped
                distributions.extend(distribution_out(e, model_version) for e in estimates.values())
            out[field] = PopulationStressOut(
                field=field,
                first_day=first,
                last_day=last,
                n=sum(d.n for d in distributions),
                skipped=skipped,
                distributions=distributions,
            )
        return out

    async def user_stress(self, user_id: str, as_of_day: date | None) -> UserStressOut:
        """Raises :class:`cloud.errors.UserNotFound`."""
        if await self._store.get_user(user_id) is None:
            raise UserNotFound(f"no user {user_id}")
        day = as_of_day or self.today()
        return UserStressOut(
            user_id=user_id,
            as_of_day=day.isoformat(),
            window_days=self.window_days,
            estimate=await self.signal.stress(user_id, day),
        )
