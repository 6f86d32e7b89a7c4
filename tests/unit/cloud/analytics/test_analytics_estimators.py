"""Debiased population estimates: hand-computed fixtures, bias and 95% coverage against a known
truth (seeded simulation), mechanism grouping, and every bad-input error."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cloud.domain.analytics.errors import (
    InvalidDayRange,
    InvalidMechanism,
    LevelOutOfRange,
    MismatchedLengths,
    NoReports,
)
from cloud.domain.analytics.estimators import (
    Reports,
    estimate_by_day,
    estimate_distribution,
    estimate_window,
    krr_probabilities,
)
from cloud.domain.analytics.simulation import population_reports, population_trial

TRUTH = (0.5, 0.3, 0.2)
# The edge default for stress (epsilon 0.5) mixed with a more generous release.
GROUPS = ((0.5, 1500), (1.0, 1000))


def test_krr_probabilities_match_the_contract() -> None:
    p, q = krr_probabilities(3, 0.5)
    e = math.exp(0.5)
    assert p == pytest.approx(e / (e + 2)) and q == pytest.approx(1 / (e + 2))
    assert p + 2 * q == pytest.approx(1.0)


def test_hand_computed_two_level_fixture() -> None:
    # k = 2, epsilon = ln 3: p = 3/4, q = 1/4. Reports 1,1,1,0: freq(1) = 3/4 -> pi(1) = 1, pi(0) = 0.
    # SE = sqrt(f(1-f)/(n-1)) / (p-q) = sqrt(0.1875/3) / 0.5 = 0.5.
    est = estimate_distribution(Reports.of([1, 1, 1, 0], [2, 2, 2, 2], [math.log(3)] * 4))[2]
    assert est.n == 4
    np.testing.assert_allclose(est.estimate, [0.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(est.std_error, [0.5, 0.5], atol=1e-12)
    np.testing.assert_allclose(est.lower, [-0.98, 0.02], atol=1e-3)
    np.testing.assert_allclose(est.upper, [0.98, 1.98], atol=1e-3)


def test_estimates_are_unclipped_and_display_clips() -> None:
    # Every report at level 0: the debiased share exceeds 1 and the others go negative.
    est = estimate_distribution(Reports.of([0] * 50, [3] * 50, [0.5] * 50))[3]
    assert est.estimate[0] > 1.0 and np.all(est.estimate[1:] < 0.0)
    assert est.estimate.sum() == pytest.approx(1.0)
    shown, lower, upper = est.display()
    assert shown[0] == 1.0 and np.all(shown[1:] == 0.0)
    assert np.all((lower >= 0) & (upper <= 1))


def test_population_estimate_is_unbiased_and_its_95_interval_covers(
    record_property: pytest.RecordProperty,
) -> None:
    trial = population_trial(np.random.default_rng(20240601), TRUTH, GROUPS, trials=400)
    # Bias within 4 standard errors of the mean over trials, level by level.
    tolerance = 4 * trial.std_estimate / math.sqrt(trial.trials)
    assert np.all(np.abs(trial.mean_estimate - trial.truth) < tolerance), (trial.mean_estimate, tolerance)
    coverage = float(trial.coverage.mean())
    record_property("population_95_coverage", coverage)
    record_property("population_95_coverage_per_level", trial.coverage.tolist())
    print(
        f"population 95% CI coverage over {trial.trials} trials: {trial.coverage.tolist()}"
        f" mean {coverage:.3f}"
    )
    assert 0.92 <= coverage <= 0.98
    assert np.all((trial.coverage >= 0.90) & (trial.coverage <= 0.99))


def test_groups_with_one_k_are_combined_with_fixed_inverse_variance_weights() -> None:
    reports = population_reports(np.random.default_rng(7), TRUTH, GROUPS)
    combined = estimate_distribution(reports)[3]
    assert [(g.epsilon, g.n) for g in combined.groups] == [(0.5, 1500), (1.0, 1000)]
    raw = [g.n * (g.p - (1 - g.p) / 2) ** 2 for g in combined.groups]
    assert [g.weight for g in combined.groups] == pytest.approx([r / sum(raw) for r in raw])
    parts = [
        estimate_distribution(reports.select(reports.epsilon == g.epsilon))[3].estimate
        for g in combined.groups
    ]
    expected = sum(g.weight * part for g, part in zip(combined.groups, parts, strict=True))
    np.testing.assert_allclose(combined.estimate, expected)
    assert combined.estimate.sum() == pytest.approx(1.0)
    # Combining narrows the interval below either group's alone.
    alone = [estimate_distribution(reports.select(reports.epsilon == g.epsilon))[3] for g in combined.groups]
    assert np.all(combined.std_error < min(a.std_error.min() for a in alone))


def test_different_k_are_estimated_separately() -> None:
    three = population_reports(np.random.default_rng(1), TRUTH, [(1.0, 300)])
    five = population_reports(np.random.default_rng(2), (0.2,) * 5, [(1.0, 200)])
    both = Reports.of(
        np.concatenate([three.levels, five.levels]),
        np.concatenate([three.k, five.k]),
        np.concatenate([three.epsilon, five.epsilon]),
    )
    result = estimate_distribution(both)
    assert sorted(result) == [3, 5]
    assert (result[3].n, result[5].n) == (300, 200)
    np.testing.assert_allclose(result[3].estimate, estimate_distribution(three)[3].estimate)


def test_single_report_group_gets_the_conservative_variance_bound() -> None:
    est = estimate_distribution(Reports.of([1], [2], [math.log(3)]))[2]
    # sqrt(1/4) / (p - q) = 0.5 / 0.5.
    np.testing.assert_allclose(est.std_error, [1.0, 1.0])


def test_per_day_and_window() -> None:
    days = ["2024-03-01", "2024-03-02", "2024-03-02", "2024-03-04", "2024-02-28"]
    reports = Reports.of([0, 1, 2, 2, 0], [3] * 5, [1.0] * 5)
    by_day = estimate_by_day(days, reports)
    assert list(by_day) == ["2024-02-28", "2024-03-01", "2024-03-02", "2024-03-04"]
    assert by_day["2024-03-02"][3].n == 2
    window = estimate_window(days, reports, "2024-03-01", "2024-03-02")[3]
    assert window.n == 3
    expected = estimate_distribution(Reports.of([0, 1, 2], [3] * 3, [1.0] * 3))[3]
    np.testing.assert_allclose(window.estimate, expected.estimate)


@pytest.mark.parametrize(
    ("levels", "k", "epsilon", "error"),
    [
        ([0, 1], [1, 3], [1.0, 1.0], InvalidMechanism),  # k < 2
        ([0, 1], [3, 3], [0.0, 1.0], InvalidMechanism),  # epsilon = 0
        ([0, 1], [3, 3], [-1.0, 1.0], InvalidMechanism),
        ([0, 1], [3, 3], [math.nan, 1.0], InvalidMechanism),
        ([0, 1], [3, 3], [math.inf, 1.0], InvalidMechanism),
        ([0, 1], [3.0, 3.0], [1.0, 1.0], InvalidMechanism),  # k not integer
        ([0, 1], [3, 3], ["a", "b"], InvalidMechanism),
        ([0, 3], [3, 3], [1.0, 1.0], LevelOutOfRange),  # level = k
        ([-1, 0], [3, 3], [1.0, 1.0], LevelOutOfRange),
        ([0.5, 1.0], [3, 3], [1.0, 1.0], LevelOutOfRange),  # level not integer
        ([0, 1, 2], [3, 3], [1.0, 1.0], MismatchedLengths),
        ([0, 1], [3, 3], [1.0], MismatchedLengths),
        ([[0, 1]], [[3, 3]], [[1.0, 1.0]], MismatchedLengths),
    ],
)
def test_bad_reports_raise_a_named_error(
    levels: object, k: object, epsilon: object, error: type[Exception]
) -> None:
    with pytest.raises(error):
        Reports.of(levels, k, epsilon)  # type: ignore[arg-type]


@pytest.mark.parametrize(("k", "epsilon"), [(1, 1.0), (3, 0.0), (3, -0.5), (3, math.nan)])
def test_bad_mechanism_for_probabilities(k: int, epsilon: float) -> None:
    with pytest.raises(InvalidMechanism):
        krr_probabilities(k, epsilon)


def test_no_reports_and_bad_windows() -> None:
    empty = Reports.of([], [], [])
    with pytest.raises(NoReports):
        estimate_distribution(empty)
    reports = Reports.of([0, 1], [3, 3], [1.0, 1.0])
    with pytest.raises(NoReports):
        estimate_window(["2024-01-01", "2024-01-02"], reports, "2024-02-01", "2024-02-02")
    with pytest.raises(InvalidDayRange):
        estimate_window(["2024-01-01", "2024-01-02"], reports, "2024-01-03", "2024-01-01")
    with pytest.raises(MismatchedLengths):
        estimate_by_day(["2024-01-01"], reports)
    with pytest.raises(MismatchedLengths):
        estimate_window(["2024-01-01"], reports, "2024-01-01", "2024-01-02")
