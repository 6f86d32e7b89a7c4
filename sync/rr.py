"""k-ary randomized response: the release contract shared by the device and the cloud.

The device releases each of stress, valence and arousal, discretised into ``k`` levels
(0 = lowest; for stress level ``k - 1`` is "high stress"), with its own ε as

    P(report = true level)        = p = e^ε / (e^ε + k - 1)
    P(report = one given other)   = q = 1 / (e^ε + k - 1)

so the ratio of the probabilities of any report under two true levels is at most e^ε: ε-local
differential privacy per field, and the fields of one day compose to the sum of their ε. The cloud
debiases the reports with the same ``p`` and ``q`` (:func:`debias`).

Pure: no randomness of its own and no I/O. :func:`randomize` draws through a ``randbelow(n)``
function passed in (uniform in ``[0, n)``); the SDK passes :func:`secrets.randbelow`, tests and
the cloud's demo seed a seeded generator's ``randrange``. The "tell the truth" coin compares a
uniform 53-bit integer with ``p * 2**53`` (exact to 2^-53, far below anything ε accounting could
notice) and the lie is a uniform pick among the other ``k - 1`` levels. No floating-point noise is
added anywhere.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Final

from sync.messages import Levels, Mechanism

K_RR: Final = "k_rr"
"""``Mechanism.name`` of k-ary randomized response."""

COIN_BITS: Final = 53
COIN_SPAN: Final = 1 << COIN_BITS
"""The truth coin is ``randbelow(COIN_SPAN)``: one uniform draw of ``COIN_BITS`` bits."""

RandBelow = Callable[[int], int]
"""``randbelow(n) -> int`` uniform in ``[0, n)``, e.g. :func:`secrets.randbelow`."""


def check_parameters(k: int, epsilon: float) -> None:
    """Raise ``ValueError`` unless ``k`` is an integer >= 2 and ``epsilon`` a finite number > 0."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise ValueError(f"k must be an integer >= 2, got {k!r}")
    if not (math.isfinite(epsilon) and epsilon > 0):
        raise ValueError(f"epsilon must be a finite number > 0, got {epsilon!r}")


def probability_true(k: int, epsilon: float) -> float:
    """``p``: P(the released level is the true one) = e^ε / (e^ε + k - 1)."""
    check_parameters(k, epsilon)
    # 1 / (1 + (k - 1) e^-ε): the same value, without overflow for a large ε.
    return 1.0 / (1.0 + (k - 1) * math.exp(-epsilon))


def probability_other(k: int, epsilon: float) -> float:
    """``q``: P(the released level is one given level other than the true one) = 1 / (e^ε + k - 1)."""
    check_parameters(k, epsilon)
    # e^-ε / (1 + (k - 1) e^-ε), not (1 - p) / (k - 1): no cancellation when p is close to 1.
    tail = math.exp(-epsilon)
    return tail / (1.0 + (k - 1) * tail)


def epsilon_of(k: int, p_true: float) -> float:
    """The ε of k-ary randomized response that tells the truth with probability ``p_true``."""
    return math.log(p_true * (k - 1) / (1.0 - p_true))


def randomize(level: int, k: int, epsilon: float, randbelow: RandBelow) -> int:
    """Release ``level`` (in ``0..k-1``) through k-ary randomized response with ``epsilon``.

    Draws ``randbelow(COIN_SPAN)`` (the truth coin) and, only when that says lie,
    ``randbelow(k - 1)`` (which other level).
    """
    check_parameters(k, epsilon)
    if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level < k:
        raise ValueError(f"level must be an integer in 0..{k - 1}, got {level!r}")
    if randbelow(COIN_SPAN) < probability_true(k, epsilon) * COIN_SPAN:
        return level
    other = randbelow(k - 1)
    return other if other < level else other + 1


def release_levels(levels: Levels, mechanism: Mechanism, randbelow: RandBelow) -> Levels:
    """Each of a day's true levels through :func:`randomize` with its field's k and ε
    (stress, then valence, then arousal: the order of the draws)."""
    return Levels(
        stress=randomize(levels.stress, mechanism.stress.k, mechanism.stress.epsilon, randbelow),
        valence=randomize(levels.valence, mechanism.valence.k, mechanism.valence.epsilon, randbelow),
        arousal=randomize(levels.arousal, mechanism.arousal.k, mechanism.arousal.epsilon, randbelow),
    )


def debias(frequencies: Sequence[float], k: int, epsilon: float) -> list[float]:
    """Unbiased estimates of the true share of each level from the observed share of reports at it.

    If a share ``pi_j`` of the population is truly at level ``j``, the expected share of reports at
    ``j`` is ``q + (p - q) pi_j``, so ``(frequencies[j] - q) / (p - q)`` is unbiased for ``pi_j``;
    when ``frequencies`` sums to 1 so do the estimates. They are not clipped: an estimate may be
    below 0 or above 1, and clipping would bias any average taken over them.
    """
    if len(frequencies) != k:
        raise ValueError(f"need one frequency per level ({k}), got {len(frequencies)}")
    p, q = probability_true(k, epsilon), probability_other(k, epsilon)
    return [(f - q) / (p - q) for f in frequencies]
