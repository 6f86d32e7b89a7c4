"""Per-user posterior of P(high stress): the prior without reports, a closed-form check, monotonicity,
credible-interval coverage over simulated users whose truth is known, and bad input."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from cloud.domain.analytics.errors import InvalidPrior, MismatchedLengths
from cloud.domain.analytics.estimators import Reports, krr_probabilities
from cloud.domain.analytics.posterior import BetaPrior, stress_posterior, theta_posterior
from cloud.domain.analytics.simulation import user_trial

DAYS = [f"2024-01-{d:02d}" for d in range(1, 8)]


def _week(levels: list[int], k: int = 3, epsilon: float = 0.5) -> Reports:
    return Reports.of(levels, [k] * len(levels), [epsilon] * len(levels))


@pytest.mark.parametrize("prior", [BetaPrior(), BetaPrior(2.0, 3.0), BetaPrior(0.5, 0.5)])
def test_no_reports_is_the_prior(prior: BetaPrior) -> None:
    estimate = stress_posterior([], Reports.of([], [], []), prior)
    assert estimate.n_days == 0 and estimate.recent_day is None
    assert estimate.posterior_mean == pytest.approx(prior.mean, abs=1e-3)
    assert estimate.prob_recent_high == pytest.approx(prior.mean, abs=1e-3)
    lower, upper = stats.beta.ppf([0.05, 0.95], prior.a, prior.b)
    assert (estimate.lower, estimate.upper) == (
        pytest.approx(lower, abs=2e-3),
        pytest.approx(upper, abs=2e-3),
    )


def test_one_report_matches_the_closed_form() -> None:
    # One day reported high: the likelihood is q + (p - q) theta, so with Beta(a, b) moments m1, m2
    # the posterior mean is (q m1 + (p - q) m2) / (q + (p - q) m1).
    prior = BetaPrior(2.0, 5.0)
    p, q = krr_probabilities(4, 1.0)
    m1 = prior.a / (prior.a + prior.b)
    m2 = m1 * (prior.a + 1) / (prior.a + prior.b + 1)
    estimate = stress_posterior(["2024-01-01"], _week([3], k=4, epsilon=1.0), prior)
    assert estimate.posterior_mean == pytest.approx((q * m1 + (p - q) * m2) / (q + (p - q) * m1), abs=1e-5)
    # P(H = 1 | y) = E[theta] p / P(y) with P(y) = q + (p - q) m1 under the prior.
    assert estimate.prob_recent_high == pytest.approx(m1 * p / (q + (p - q) * m1), abs=1e-5)
    assert (estimate.n_days, estimate.recent_day) == (1, "2024-01-01")


def test_more_high_reports_raise_the_posterior() -> None:
    means = []
    for highs in range(8):
        levels = [2] * highs + [0] * (7 - highs)
        means.append(stress_posterior(DAYS, _week(levels)).posterior_mean)
    assert all(a < b for a, b in itertools.pairwise(means)), means
    # A larger epsilon makes the same reports say more.
    strong = stress_posterior(DAYS, _week([2] * 7, epsilon=2.0)).posterior_mean
    assert strong > means[-1]


def test_recent_day_probability_follows_the_last_report() -> None:
    high_last = stress_posterior(DAYS, _week([0, 0, 0, 0, 0, 0, 2], epsilon=2.0))
    low_last = stress_posterior(DAYS, _week([2, 0, 0, 0, 0, 0, 0], epsilon=2.0))
    assert high_last.posterior_mean == pytest.approx(low_last.posterior_mean)
    # The same reports in another order: theta's posterior is unchanged, the last day's is not.
    assert high_last.prob_recent_high > 3 * high_last.posterior_mean
    assert low_last.prob_recent_high < high_last.posterior_mean
    assert high_last.recent_day == "2024-01-07"


def test_days_are_sorted_and_same_day_reports_are_one_day() -> None:
    shuffled = stress_posterior(list(reversed(DAYS)), _week([2, 0, 0, 0, 0, 0, 0], epsilon=2.0))
    # Reversed days: the report of 2024-01-07 is the first one, level 2.
    in_order = stress_posterior(DAYS, _week([0, 0, 0, 0, 0, 0, 2], epsilon=2.0))
    assert shuffled.recent_day == "2024-01-07"
    assert shuffled.prob_recent_high == pytest.approx(in_order.prob_recent_high)
    one_device = stress_posterior(["2024-01-01"], _week([2], epsilon=1.0))
    two_devices = stress_posterior(["2024-01-01", "2024-01-01"], _week([2, 2], epsilon=1.0))
    assert two_devices.n_days == 1
    assert two_devices.prob_recent_high > one_device.prob_recent_high


def test_interval_brackets_the_mean_and_narrows_with_data() -> None:
    short = stress_posterior(DAYS[:2], _week([2, 0], epsilon=2.0))
    month = [f"2024-02-{d:02d}" for d in range(1, 29)]
    long = stress_posterior(month, Reports.of([2, 0] * 14, [3] * 28, [2.0] * 28))
    assert long.n_days == 28
    for e in (short, long):
        assert 0.0 <= e.lower < e.posterior_mean < e.upper <= 1.0
    assert long.upper - long.lower < short.upper - short.lower


def test_prior_from_population() -> None:
    prior = BetaPrior.from_population(0.3, strength=10.0)
    assert (prior.a, prior.b) == (pytest.approx(3.0), pytest.approx(7.0))
    assert stress_posterior([], Reports.of([], [], []), prior).posterior_mean == pytest.approx(0.3, abs=1e-3)


@pytest.mark.parametrize(("epsilon", "days"), [(0.5, 7), (2.0, 7), (1.0, 30)])
def test_credible_interval_covers_theta_drawn_from_the_prior(
    epsilon: float, days: int, record_property: pytest.RecordProperty
) -> None:
    trial = user_trial(np.random.default_rng(int(epsilon * 100) + days), BetaPrior(), 1500, days, 3, epsilon)
    record_property(f"user_90_coverage_eps{epsilon}_days{days}", trial.coverage)
    print(
        f"user 90% credible coverage, eps={epsilon}, {days} days, {trial.users} users: {trial.coverage:.3f}"
        f" (mean width {trial.mean_interval_width:.3f});"
        f" mean P(recent high) {trial.mean_prob_recent_high:.3f}"
        f" vs share truly high {trial.share_recent_high:.3f}"
    )
    # 1500 users: the standard error of a 0.90 coverage is 0.008.
    assert 0.87 <= trial.coverage <= 0.93
    assert abs(trial.mean_prob_recent_high - trial.share_recent_high) < 0.04


@pytest.mark.parametrize(("a", "b"), [(0.0, 1.0), (1.0, -1.0), (math.nan, 1.0), (1.0, math.inf)])
def test_bad_prior(a: float, b: float) -> None:
    with pytest.raises(InvalidPrior):
        BetaPrior(a, b)


@pytest.mark.parametrize(("share", "strength"), [(0.0, 5.0), (1.0, 5.0), (0.3, 0.0), (-0.1, 5.0)])
def test_bad_population_prior(share: float, strength: float) -> None:
    with pytest.raises(InvalidPrior):
        BetaPrior.from_population(share, strength)


def test_days_must_match_reports() -> None:
    with pytest.raises(MismatchedLengths):
        theta_posterior(DAYS[:2], _week([0, 1, 2]))
    with pytest.raises(MismatchedLengths):
        theta_posterior([DAYS[:3]], _week([0, 1, 2]))


@pytest.mark.parametrize("mass", [0.0, 1.0, 1.5])
def test_bad_credible_mass(mass: float) -> None:
    with pytest.raises(ValueError, match="credible mass"):
        stress_posterior(DAYS[:1], _week([1]), credible_mass=mass)
