"""The per-user stress signal the offers domain consumes, and its do-nothing implementation.

Offers may use the signal only to make an offer gentler or its timing kinder (DESIGN §1, §7):
"no signal" (``None``) must always be a safe answer, and a consumer should also look at
``n_days`` and the width of the interval before acting — with the edge's default mechanism for
stress (two levels, epsilon 0.6) a released level is the true one with probability 0.65, so a
week of reports moves the posterior a little and a month somewhat more
(``python -m bench.privacy_analytics``).
"""

from __future__ import annotations

from datetime import date
from typing import Protocol

import msgspec


class StressEstimate(msgspec.Struct, frozen=True, kw_only=True):
    """Posterior summary of how often a user is at the top stress level, over recent days."""

    posterior_mean: float
    """Posterior mean of theta, the probability that a day of this user is a high-stress day."""
    lower: float
    """Lower end of the equal-tailed credible interval of theta (mass ``credible_mass``)."""
    upper: float
    n_days: int
    """Days with at least one report in the window; 0 means the numbers are the prior."""
    prob_recent_high: float
    """Posterior probability that ``recent_day`` was truly high stress (the prior predictive
    P(high) when there is no report)."""
    recent_day: str | None = None
    """Most recent day with a report in the window (ISO date), if any."""
    credible_mass: float = 0.9
    model_version: str | None = None
    """The model whose reports the estimate is from: a user's reports of two models are never
    pooled (:func:`cloud.domain.analytics.reports.one_model`)."""


class StressSignal(Protocol):
    """Source of per-user stress estimates; see :class:`StressEstimate`."""

    async def stress(self, user_id: str, as_of_day: date) -> StressEstimate | None:
        """The estimate over the days up to and including ``as_of_day`` (user-local days), or
        ``None`` when there is no signal (no reports in the window, or no analytics configured)."""
        ...


class NoStressSignal:
    """A :class:`StressSignal` that never has a signal: offers behave as without emotion data."""

    async def stress(self, user_id: str, as_of_day: date) -> StressEstimate | None:
        return None
