"""Per-user posterior of P(high stress) from k-RR stress reports (pure numpy, exact on a grid).

Model:

- theta = the probability that a day of this user is a high-stress day (true level ``k - 1``);
  prior ``Beta(a, b)``, default ``Beta(1, 4)``: mean 0.2, weak (worth 5 days of perfect
  observations), so a few noisy reports can move it; :meth:`BetaPrior.from_population` centres it
  on the debiased population share instead.
- Each day ``d`` is high (``H_d = 1``) with probability theta, independently across days given theta.
- Each report of day ``d`` (one per device lineage; usually one) is k-RR of that day's true level
  with the report's own ``(k, epsilon)``. Only the event "reported level is the top one" is used:
  ``P(top | H=1) = p`` and ``P(top | H=0) = q`` whatever the distribution among the lower levels,
  so the likelihood is exact without modelling them (when the lower levels are equally likely,
  which low level was reported carries no information about H at all).

Then ``P(day d | theta) = theta * L1_d + (1 - theta) * L0_d`` with ``L1_d``, ``L0_d`` the products of
the day's report likelihoods given H = 1 and H = 0. The posterior of theta is computed on a grid
of 1001 cell midpoints of [0, 1] (midpoints keep priors with ``a < 1`` or ``b < 1`` finite), in log
space. With equal-tailed intervals from the grid CDF, the error from the grid is below 0.001.

``P(H_recent = 1 | data)`` integrates ``theta L1 / (theta L1 + (1 - theta) L0)`` of the most recent
reported day over the posterior of theta.

The credible interval is calibrated for users whose theta is drawn from the prior (the test
measures it); for a fixed theta it is a Bayesian interval, not a confidence interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from cloud.domain.analytics.errors import InvalidPrior, MismatchedLengths
from cloud.domain.analytics.estimators import FloatArray, Reports, krr_probabilities
from cloud.domain.analytics.signal import StressEstimate

GRID_POINTS: Final = 1001
CREDIBLE_MASS: Final = 0.90
WINDOW_DAYS: Final = 7


@dataclass(frozen=True, slots=True)
class BetaPrior:
    """Beta(a, b) prior of theta; the default Beta(1, 4) has mean 0.2."""

    a: float = 1.0
    b: float = 4.0

    def __post_init__(self) -> None:
        if not (np.isfinite(self.a) and np.isfinite(self.b) and self.a > 0 and self.b > 0):
            raise InvalidPrior(f"Beta parameters must be finite and above 0, got ({self.a}, {self.b})")

    @property
    def mean(self) -> float:
        return self.a / (self.a + self.b)

    @classmethod
    def from_population(cls, high_share: float, strength: float = 5.0) -> BetaPrior:
        """A prior with mean ``high_share`` (e.g. the debiased population share of the top level,
        clipped into (0, 1)) and the weight of ``strength`` observed days."""
        if not (0.0 < high_share < 1.0) or not (np.isfinite(strength) and strength > 0):
            raise InvalidPrior(f"need 0 < high_share < 1 and strength > 0, got {high_share}, {strength}")
        return cls(a=high_share * strength, b=(1.0 - high_share) * strength)


@dataclass(frozen=True, slots=True)
class ThetaPosterior:
    """The posterior of theta on a grid: cell midpoints and their probability masses."""

    grid: FloatArray
    mass: FloatArray
    n_days: int
    recent_day: str | None
    prob_recent_high: float

    @property
    def mean(self) -> float:
        return float(np.dot(self.grid, self.mass))

    def interval(self, credible_mass: float = CREDIBLE_MASS) -> tuple[float, float]:
        """Equal-tailed credible interval, interpolating the CDF between cell edges."""
        if not 0.0 < credible_mass < 1.0:
            raise ValueError(f"credible mass must be in (0, 1), got {credible_mass}")
        edges = np.linspace(0.0, 1.0, self.grid.shape[0] + 1)
        cdf = np.concatenate([[0.0], np.cumsum(self.mass)])
        tail = (1.0 - credible_mass) / 2.0
        lower, upper = np.interp([tail, 1.0 - tail], cdf, edges)
        return float(lower), float(upper)

    def summary(self, credible_mass: float = CREDIBLE_MASS) -> StressEstimate:
        lower, upper = self.interval(credible_mass)
        return StressEstimate(
            posterior_mean=self.mean,
            lower=lower,
            upper=upper,
            n_days=self.n_days,
            prob_recent_high=self.prob_recent_high,
            recent_day=self.recent_day,
            credible_mass=credible_mass,
        )


def _day_likelihoods(
    days: npt.NDArray[np.str_], reports: Reports
) -> tuple[list[str], FloatArray, FloatArray]:
    """Per distinct day (ascending): ``L1`` and ``L0``, the day's report likelihoods given H."""
    # p and q of each report's own (k, epsilon), from the contract (sync.rr), once per pair.
    pairs = list(zip(reports.k.tolist(), reports.epsilon.tolist(), strict=True))
    probabilities = {pair: krr_probabilities(*pair) for pair in set(pairs)}
    p = np.array([probabilities[pair][0] for pair in pairs], dtype=np.float64)
    q = np.array([probabilities[pair][1] for pair in pairs], dtype=np.float64)
    top = reports.levels == reports.k - 1
    like_high = np.where(top, p, 1.0 - p)
    like_low = np.where(top, q, 1.0 - q)
    unique, inverse = np.unique(days, return_inverse=True)
    inverse = inverse.reshape(-1)
    # Products per day via sums of logs (several devices may report the same day).
    l1 = np.exp(np.bincount(inverse, weights=np.log(like_high), minlength=unique.shape[0]))
    l0 = np.exp(np.bincount(inverse, weights=np.log(like_low), minlength=unique.shape[0]))
    return [str(d) for d in unique], l1, l0


def theta_posterior(
    days: Sequence[str] | npt.ArrayLike,
    reports: Reports,
    prior: BetaPrior | None = None,
    grid_points: int = GRID_POINTS,
) -> ThetaPosterior:
    """The posterior of theta given one user's stress reports (``days[i]`` is report i's day).

    Raises :class:`MismatchedLengths` when ``days`` does not have one entry per report.
    """
    prior = prior or BetaPrior()
    day_arr = np.asarray(days, dtype=np.str_)
    if day_arr.ndim != 1 or day_arr.shape[0] != len(reports):
        raise MismatchedLengths(f"days must be one-dimensional with one entry per report ({len(reports)})")
    grid = (np.arange(grid_points, dtype=np.float64) + 0.5) / grid_points
    log_post = (prior.a - 1.0) * np.log(grid) + (prior.b - 1.0) * np.log1p(-grid)
    if len(reports) == 0:
        mass = _normalise(log_post)
        return ThetaPosterior(
            grid=grid, mass=mass, n_days=0, recent_day=None, prob_recent_high=float(np.dot(grid, mass))
        )
    day_names, l1, l0 = _day_likelihoods(day_arr, reports)
    # (days, grid): P(day | theta) for every grid point.
    per_day = grid[None, :] * l1[:, None] + (1.0 - grid[None, :]) * l0[:, None]
    log_post = log_post + np.sum(np.log(per_day), axis=0)
    mass = _normalise(log_post)
    recent_high = grid * l1[-1] / per_day[-1]
    return ThetaPosterior(
        grid=grid,
        mass=mass,
        n_days=len(day_names),
        recent_day=day_names[-1],
        prob_recent_high=float(np.dot(recent_high, mass)),
    )


def _normalise(log_weights: FloatArray) -> FloatArray:
    w = np.exp(log_weights - np.max(log_weights))
    normalised: FloatArray = w / np.sum(w)
    return normalised


def stress_posterior(
    days: Sequence[str] | npt.ArrayLike,
    reports: Reports,
    prior: BetaPrior | None = None,
    credible_mass: float = CREDIBLE_MASS,
) -> StressEstimate:
    """Posterior mean, credible interval and P(high on the most recent reported day).

    With no reports the answer is the prior (``n_days == 0``).
    """
    return theta_posterior(days, reports, prior).summary(credible_mass)
