"""Table tests of the k-ary randomized-response contract (sync/rr.py): the probabilities, the
sampling rule under scripted draws, the debiasing formula and the refusals."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import pytest

from sync.messages import FieldMechanism, Levels, Mechanism
from sync.rr import (
    COIN_SPAN,
    K_RR,
    check_parameters,
    debias,
    epsilon_of,
    probability_other,
    probability_true,
    randomize,
    release_levels,
)

LN2, LN3 = math.log(2), math.log(3)

# (k, epsilon, p = e^ε / (e^ε + k - 1), q = 1 / (e^ε + k - 1))
PROBABILITIES = [
    (2, LN3, 3 / 4, 1 / 4),
    (3, LN2, 1 / 2, 1 / 4),
    (4, LN3, 1 / 2, 1 / 6),
    (5, LN2, 1 / 3, 1 / 6),
    (2, 0.6, 0.6456563062, 0.3543436938),  # the SDK's default for stress
    (3, 0.2, 0.3791524531, 0.3104237735),  # the SDK's default for valence and arousal
    (16, 10.0, 0.9993194645, 0.0000453690),  # the largest k and ε the wire allows
    (2, 700.0, 1.0, 0.0),  # a huge ε does not overflow
]


@pytest.mark.parametrize(("k", "epsilon", "p", "q"), PROBABILITIES)
def test_probabilities(k: int, epsilon: float, p: float, q: float) -> None:
    assert probability_true(k, epsilon) == pytest.approx(p, abs=1e-10)
    assert probability_other(k, epsilon) == pytest.approx(q, abs=1e-10)
    assert probability_true(k, epsilon) + (k - 1) * probability_other(k, epsilon) == pytest.approx(1.0)


@pytest.mark.parametrize(("k", "epsilon"), [(2, 0.25), (3, 0.5), (4, 1.0), (16, 3.0)])
def test_epsilon_of_inverts_probability_true(k: int, epsilon: float) -> None:
    assert epsilon_of(k, probability_true(k, epsilon)) == pytest.approx(epsilon, rel=1e-12)


@pytest.mark.parametrize(
    ("k", "epsilon"),
    [(1, 1.0), (0, 1.0), (True, 1.0), (2.0, 1.0), (3, 0.0), (3, -0.5), (3, math.nan), (3, math.inf)],
)
def test_bad_parameters_are_refused(k: int, epsilon: float) -> None:
    with pytest.raises(ValueError):
        check_parameters(k, epsilon)
    with pytest.raises(ValueError):
        probability_true(k, epsilon)
    with pytest.raises(ValueError):
        randomize(0, k, epsilon, lambda n: 0)


def scripted(draws: Sequence[int], calls: list[int]) -> Callable[[int], int]:
    """A ``randbelow`` that answers ``draws`` in order and records each ``n`` it was asked for."""
    answers = iter(draws)

    def randbelow(n: int) -> int:
        calls.append(n)
        value = next(answers)
        assert 0 <= value < n
        return value

    return randbelow


TOP = COIN_SPAN - 1
# (level, k, epsilon, draws, released, the n of each draw)
RANDOMIZE = [
    (2, 3, 0.5, [0], 2, [COIN_SPAN]),  # the lowest coin tells the truth
    (1, 3, 0.5, [TOP, 0], 0, [COIN_SPAN, 2]),  # a lie below the true level
    (1, 3, 0.5, [TOP, 1], 2, [COIN_SPAN, 2]),  # a lie at or above it skips the true level
    (0, 2, 0.6, [TOP, 0], 1, [COIN_SPAN, 1]),  # k = 2: the lie is the other level
    (0, 4, 1.0, [TOP, 2], 3, [COIN_SPAN, 3]),
    (3, 4, 1.0, [TOP, 2], 2, [COIN_SPAN, 3]),
    (5, 16, 3.0, [TOP, 14], 15, [COIN_SPAN, 15]),
]


@pytest.mark.parametrize(("level", "k", "epsilon", "draws", "released", "asked"), RANDOMIZE)
def test_randomize_under_scripted_draws(
    level: int, k: int, epsilon: float, draws: list[int], released: int, asked: list[int]
) -> None:
    calls: list[int] = []
    assert randomize(level, k, epsilon, scripted(draws, calls)) == released
    assert calls == asked


@pytest.mark.parametrize(("k", "epsilon"), [(2, 0.6), (3, 0.2), (3, LN2), (16, 10.0)])
def test_the_truth_coin_threshold(k: int, epsilon: float) -> None:
    """Coins below ``p * 2**53`` tell the truth, coins from it on lie."""
    threshold = math.ceil(probability_true(k, epsilon) * COIN_SPAN)
    assert randomize(0, k, epsilon, scripted([threshold - 1], [])) == 0
    assert randomize(0, k, epsilon, scripted([threshold, 0], [])) == 1


@pytest.mark.parametrize(
    ("level", "k"), [(3, 3), (-1, 3), (True, 3), (1.0, 3), (16, 16)], ids=lambda v: repr(v)
)
def test_bad_levels_are_refused(level: int, k: int) -> None:
    with pytest.raises(ValueError):
        randomize(level, k, 0.5, lambda n: 0)


MECHANISM = Mechanism(
    stress=FieldMechanism(k=2, epsilon=0.6),
    valence=FieldMechanism(k=3, epsilon=0.2),
    arousal=FieldMechanism(k=5, epsilon=1.0),
)


def test_release_levels_draws_stress_then_valence_then_arousal() -> None:
    calls: list[int] = []
    # Stress keeps its level; valence lies to the first other level; arousal lies to the last.
    draws = [0, TOP, 0, TOP, 3]
    released = release_levels(Levels(stress=1, valence=0, arousal=2), MECHANISM, scripted(draws, calls))
    assert released == Levels(stress=1, valence=1, arousal=4)
    assert calls == [COIN_SPAN, COIN_SPAN, 2, COIN_SPAN, 4]


def test_the_mechanism_name() -> None:
    assert MECHANISM.name == K_RR == "k_rr"


# (observed shares, k, epsilon, debiased shares): p = 3/4, q = 1/4 for (2, ln 3); 1/2, 1/4 for (3, ln 2)
DEBIAS = [
    ([0.25, 0.75], 2, LN3, [0.0, 1.0]),
    ([0.5, 0.5], 2, LN3, [0.5, 0.5]),
    ([1.0, 0.0], 2, LN3, [1.5, -0.5]),  # unclipped
    ([0.25, 0.25, 0.5], 3, LN2, [0.0, 0.0, 1.0]),
    ([1 / 3, 1 / 3, 1 / 3], 3, LN2, [1 / 3, 1 / 3, 1 / 3]),
    ([0.0, 0.5, 0.5], 3, LN2, [-1.0, 1.0, 1.0]),
]


@pytest.mark.parametrize(("observed", "k", "epsilon", "expected"), DEBIAS)
def test_debias(observed: list[float], k: int, epsilon: float, expected: list[float]) -> None:
    estimate = debias(observed, k, epsilon)
    assert estimate == pytest.approx(expected, abs=1e-12)
    assert math.fsum(estimate) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize(("k", "epsilon"), [(2, 0.6), (3, 0.2), (4, 1.0), (16, 3.0)])
def test_debias_inverts_the_expected_report_shares(k: int, epsilon: float) -> None:
    truth = [(j + 1) / (k * (k + 1) / 2) for j in range(k)]
    p, q = probability_true(k, epsilon), probability_other(k, epsilon)
    expected_reports = [q + (p - q) * share for share in truth]
    assert debias(expected_reports, k, epsilon) == pytest.approx(truth, abs=1e-12)


def test_debias_needs_one_share_per_level() -> None:
    with pytest.raises(ValueError):
        debias([0.5, 0.5], 3, 1.0)
    with pytest.raises(ValueError):
        debias([1.0], 1, 1.0)
