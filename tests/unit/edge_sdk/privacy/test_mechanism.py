"""k-ary randomized response: ε against OpenDP's privacy map, output distribution by chi-square,
discretisation thresholds, and refusals of bad parameters."""

from __future__ import annotations

import math
import random
import secrets
from collections import Counter

import opendp.prelude as dp
import pytest
from scipy.stats import chisquare

from edge_sdk.privacy.daily import mechanism_of, window_bucket
from edge_sdk.privacy.mechanism import (
    AROUSAL_RANGE,
    STRESS_RANGE,
    VALENCE_RANGE,
    discretise,
    randbelow_of,
    thresholds,
)
from edge_sdk.privacy.settings import PrivacySettings
from sync.rr import epsilon_of, probability_other, probability_true, randomize

CASES = [(2, 0.25), (3, 0.25), (3, 0.5), (3, 1.0), (4, 0.5), (5, 2.0), (16, 3.0)]


@pytest.fixture(scope="module", autouse=True)
def _opendp_contrib() -> None:
    # OpenDP keeps randomized response behind its "contrib" flag (not yet formally vetted).
    dp.enable_features("contrib")


@pytest.mark.parametrize(("k", "epsilon"), CASES)
def test_epsilon_matches_opendp_privacy_map(k: int, epsilon: float) -> None:
    measurement = dp.m.make_randomized_response(list(range(k)), probability_true(k, epsilon), T=int)
    opendp_epsilon = measurement.map(1)
    # OpenDP rounds its map up (conservative), so it may exceed ours by float rounding only.
    assert opendp_epsilon == pytest.approx(epsilon, abs=1e-12)
    assert opendp_epsilon >= epsilon - 1e-15


def test_default_day_composes_to_the_ledgers_epsilon() -> None:
    settings = PrivacySettings()
    mechanism = mechanism_of(settings)
    total = 0.0
    for field in (mechanism.stress, mechanism.valence, mechanism.arousal):
        m = dp.m.make_randomized_response(
            list(range(field.k)), probability_true(field.k, field.epsilon), T=int
        )
        total += m.map(1)
    # Sequential composition: the three releases of one day cost the sum of their ε.
    assert total == pytest.approx(settings.epsilon_per_day, abs=1e-12)


def test_probabilities_of_the_defaults() -> None:
    assert probability_true(3, 0.5) == pytest.approx(math.exp(0.5) / (math.exp(0.5) + 2))
    assert probability_true(3, 0.5) == pytest.approx(0.45186, abs=1e-5)
    assert probability_true(3, 0.25) == pytest.approx(0.39100, abs=1e-5)
    assert probability_other(3, 0.5) == pytest.approx(1 / (math.exp(0.5) + 2))
    assert epsilon_of(3, probability_true(3, 0.5)) == pytest.approx(0.5)
    assert probability_true(2, 700.0) == 1.0  # no overflow for a huge ε


@pytest.mark.parametrize(("k", "epsilon"), [(2, 0.5), (3, 0.25), (3, 0.5), (4, 1.0), (5, 2.0)])
def test_output_distribution_matches_stated_probabilities(k: int, epsilon: float) -> None:
    rng = random.Random(f"chi-square-{k}-{epsilon}")
    true_level = k - 1
    n = 30_000
    counts = Counter(randomize(true_level, k, epsilon, rng.randrange) for _ in range(n))
    p_true, p_other = probability_true(k, epsilon), probability_other(k, epsilon)
    expected = [n * (p_true if level == true_level else p_other) for level in range(k)]
    observed = [counts[level] for level in range(k)]
    assert sum(observed) == n
    result = chisquare(observed, expected)
    assert result.pvalue > 0.001, (observed, expected)


def test_a_biased_mechanism_would_fail_the_chi_square() -> None:
    """The check has power: the distribution of k = 3 at ε = 0.5 is not that of ε = 1.0."""
    rng = random.Random(1)
    n = 30_000
    counts = Counter(randomize(0, 3, 1.0, rng.randrange) for _ in range(n))
    expected = [n * probability_true(3, 0.5)] + [n * probability_other(3, 0.5)] * 2
    assert chisquare([counts[i] for i in range(3)], expected).pvalue < 1e-6


def test_random_sources() -> None:
    assert randbelow_of(None) is secrets.randbelow
    rng = random.Random(3)
    assert randbelow_of(rng) == rng.randrange
    calls: list[int] = []

    def fixed(n: int) -> int:
        calls.append(n)
        return 0

    # A zero coin always tells the truth.
    assert randomize(2, 3, 0.5, randbelow_of(fixed)) == 2
    assert calls == [2**53]
    # A coin at the top always lies; the lie is a uniform pick among the other levels.
    assert randomize(1, 3, 0.5, lambda n: n - 1 if n == 2**53 else 0) == 0
    assert randomize(1, 3, 0.5, lambda n: n - 1 if n == 2**53 else 1) == 2
    assert randomize(0, 3, 0.5, randbelow_of(None)) in {0, 1, 2}


@pytest.mark.parametrize(
    ("level", "k", "epsilon"),
    [(3, 3, 0.5), (-1, 3, 0.5), (True, 3, 0.5), (0, 1, 0.5), (0, 3, 0.0), (0, 3, math.nan), (0, 3, math.inf)],
)
def test_bad_parameters_are_refused(level: int, k: int, epsilon: float) -> None:
    with pytest.raises(ValueError):
        randomize(level, k, epsilon, lambda n: 0)


def test_thresholds_and_discretisation() -> None:
    assert thresholds(STRESS_RANGE, 3) == pytest.approx([1 / 3, 2 / 3])
    assert thresholds(VALENCE_RANGE, 3) == pytest.approx([-1 / 3, 1 / 3])
    assert thresholds(AROUSAL_RANGE, 2) == [0.0]
    assert [discretise(v, STRESS_RANGE, 3) for v in (0.0, 0.2, 1 / 3, 0.5, 0.7, 1.0)] == [0, 0, 1, 1, 2, 2]
    assert [discretise(v, VALENCE_RANGE, 3) for v in (-1.0, -0.5, 0.0, 0.34, 1.0)] == [0, 0, 1, 2, 2]
    assert discretise(5.0, STRESS_RANGE, 4) == 3 and discretise(-5.0, STRESS_RANGE, 4) == 0
    with pytest.raises(ValueError):
        discretise(math.nan, STRESS_RANGE, 3)


def test_window_buckets() -> None:
    counts = [0, 9, 10, 19, 20, 39, 40, 80, 159, 160, 320, 639, 640, 10_000]
    assert [window_bucket(n) for n in counts] == [0, 0, 1, 1, 2, 2, 3, 4, 4, 5, 6, 6, 7, 7]
