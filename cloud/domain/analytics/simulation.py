"""Simulated k-RR reports where the truth is known, for measuring bias and interval coverage.

The tests and ``bench/privacy_analytics.py`` use these to check the estimators against a known
truth; nothing in the request path does. Every function takes a seeded ``numpy`` Generator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from cloud.domain.analytics.estimators import (
    DistributionEstimate,
    FloatArray,
    IntArray,
    Reports,
    estimate_distribution,
    krr_probabilities,
)
from cloud.domain.analytics.posterior import CREDIBLE_MASS, BetaPrior, theta_posterior


def randomize(rng: np.random.Generator, true_levels: IntArray, k: int, epsilon: float) -> IntArray:
    """k-RR of each true level: kept with probability p, else one of the other k-1 levels uniformly."""
    p, _ = krr_probabilities(k, epsilon)
    keep = rng.random(true_levels.shape[0]) < p
    # Adding 1..k-1 modulo k picks each other level with equal probability.
    other = (true_levels + rng.integers(1, k, size=true_levels.shape[0])) % k
    released: IntArray = np.where(keep, true_levels, other).astype(np.int64)
    return released


def population_reports(
    rng: np.random.Generator, truth: Sequence[float], groups: Sequence[tuple[float, int]]
) -> Reports:
    """Reports of a population with level distribution ``truth``; ``groups`` = (epsilon, n) pairs."""
    k = len(truth)
    levels: list[IntArray] = []
    eps: list[FloatArray] = []
    for epsilon, n in groups:
        true_levels = rng.choice(k, size=n, p=np.asarray(truth)).astype(np.int64)
        levels.append(randomize(rng, true_levels, k, epsilon))
        eps.append(np.full(n, epsilon))
    all_levels = np.concatenate(levels)
    return Reports.of(all_levels, np.full(all_levels.shape[0], k, dtype=np.int64), np.concatenate(eps))


@dataclass(frozen=True, slots=True)
class PopulationTrial:
    """Bias and 95% interval coverage over repeated simulated populations."""

    truth: FloatArray
    mean_estimate: FloatArray
    std_estimate: FloatArray
    coverage: FloatArray
    """Per level: share of trials whose 95% interval held the true share."""
    trials: int


def population_trial(
    rng: np.random.Generator, truth: Sequence[float], groups: Sequence[tuple[float, int]], trials: int
) -> PopulationTrial:
    k = len(truth)
    estimates = np.empty((trials, k))
    covered = np.empty((trials, k), dtype=bool)
    t = np.asarray(truth, dtype=np.float64)
    for i in range(trials):
        est: DistributionEstimate = estimate_distribution(population_reports(rng, truth, groups))[k]
        estimates[i] = est.estimate
        covered[i] = (est.lower <= t) & (t <= est.upper)
    return PopulationTrial(
        truth=t,
        mean_estimate=estimates.mean(axis=0),
        std_estimate=estimates.std(axis=0, ddof=1),
        coverage=covered.mean(axis=0),
        trials=trials,
    )


@dataclass(frozen=True, slots=True)
class UserTrial:
    """Credible-interval coverage of theta over simulated users whose theta is drawn from the prior."""

    coverage: float
    users: int
    mean_prob_recent_high: float
    """Average posterior P(most recent day high); calibrated if close to ``share_recent_high``."""
    share_recent_high: float
    mean_interval_width: float


def user_days(
    rng: np.random.Generator, theta: float, days: int, k: int, epsilon: float
) -> tuple[list[str], Reports, bool]:
    """One user's ``days`` daily stress reports; also whether the last day was truly high."""
    high = rng.random(days) < theta
    # A low day's true level is uniform over 0..k-2; the posterior does not depend on this choice.
    low_levels = rng.integers(0, k - 1, size=days)
    true_levels = np.where(high, k - 1, low_levels).astype(np.int64)
    released = randomize(rng, true_levels, k, epsilon)
    names = [f"2024-01-{d + 1:02d}" for d in range(days)]
    reports = Reports.of(released, np.full(days, k, dtype=np.int64), np.full(days, epsilon))
    return names, reports, bool(high[-1])


def user_trial(
    rng: np.random.Generator,
    prior: BetaPrior,
    users: int,
    days: int,
    k: int,
    epsilon: float,
    credible_mass: float = CREDIBLE_MASS,
) -> UserTrial:
    covered = 0
    width = 0.0
    prob_sum = 0.0
    recent_high = 0
    thetas: npt.NDArray[np.float64] = rng.beta(prior.a, prior.b, size=users)
    for theta in thetas:
        names, reports, last_high = user_days(rng, float(theta), days, k, epsilon)
        post = theta_posterior(names, reports, prior)
        lower, upper = post.interval(credible_mass)
        covered += int(lower <= theta <= upper)
        width += upper - lower
        prob_sum += post.prob_recent_high
        recent_high += int(last_high)
    return UserTrial(
        coverage=covered / users,
        users=users,
        mean_prob_recent_high=prob_sum / users,
        share_recent_high=recent_high / users,
        mean_interval_width=width / users,
    )
