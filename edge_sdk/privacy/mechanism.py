"""k-ary randomized response and the discretisation of daily means into levels.

The shared contract between the device (which releases) and the cloud (which debiases): each of
stress, valence and arousal is discretised into ``k`` levels (0 = lowest; for stress level
``k - 1`` is "high stress") and released with ε as

    P(report = true level)        = e^ε / (e^ε + k - 1)
    P(report = one given other)   = 1 / (e^ε + k - 1)

so the ratio of the probabilities of any output under two inputs is at most e^ε: ε-local
differential privacy per field, and the fields of one day compose to the sum of their ε.

Randomness comes from :mod:`secrets` by default. A draw is an integer ``randbelow(n)``: the
"tell the truth" coin compares a uniform 53-bit integer with ``P(true) * 2**53`` (exact to
2^-53, far below anything ε accounting could notice) and the lie is a uniform pick among the
other ``k - 1`` levels. No floating-point noise is added anywhere.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from typing import Final, Protocol, runtime_checkable

_COIN_BITS: Final = 53
_COIN_SPAN: Final = 1 << _COIN_BITS

STRESS_RANGE: Final = (0.0, 1.0)
"""Stress is the model's probability of stress."""
VALENCE_RANGE: Final = (-1.0, 1.0)
"""Valence from unpleasant (-1) through neutral (0) to pleasant (+1)."""
AROUSAL_RANGE: Final = (-1.0, 1.0)
"""Arousal from calm (-1) through neutral (0) to activated (+1)."""


@runtime_checkable
class SupportsRandrange(Protocol):
    """A ``random.Random``-like source (``random.Random``, ``random.SystemRandom``)."""

    def randrange(self, stop: int, /) -> int: ...


RandomSource = Callable[[int], int] | SupportsRandrange
"""``randbelow(n) -> int`` uniform in ``[0, n)``, or an object with ``randrange(n)``."""


def randbelow_of(source: RandomSource | None) -> Callable[[int], int]:
    """The ``randbelow`` function of ``source``; :func:`secrets.randbelow` for ``None``."""
    if source is None:
        return secrets.randbelow
    if isinstance(source, SupportsRandrange):
        return source.randrange
    return source


def _check(k: int, epsilon: float) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise ValueError(f"k must be an integer >= 2, got {k!r}")
    if not (math.isfinite(epsilon) and epsilon > 0):
        raise ValueError(f"epsilon must be a finite number > 0, got {epsilon!r}")


def probability_true(k: int, epsilon: float) -> float:
    """P(the released level is the true one) = e^ε / (e^ε + k - 1)."""
    _check(k, epsilon)
    # 1 / (1 + (k - 1) e^-ε): the same value, without overflow for a large ε.
    return 1.0 / (1.0 + (k - 1) * math.exp(-epsilon))


def probability_other(k: int, epsilon: float) -> float:
    """P(the released level is one given level other than the true one) = 1 / (e^ε + k - 1)."""
    return (1.0 - probability_true(k, epsilon)) / (k - 1)


def epsilon_of(k: int, p_true: float) -> float:
    """The ε of k-ary randomized response that tells the truth with probability ``p_true``."""
    return math.log(p_true * (k - 1) / (1.0 - p_true))


def randomize(level: int, k: int, epsilon: float, randbelow: Callable[[int], int]) -> int:
    """Release ``level`` (in ``0..k-1``) through k-ary randomized response with ``epsilon``."""
    _check(k, epsilon)
    if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level < k:
        raise ValueError(f"level must be an integer in 0..{k - 1}, got {level!r}")
    if randbelow(_COIN_SPAN) < probability_true(k, epsilon) * _COIN_SPAN:
        return level
    other = randbelow(k - 1)
    return other if other < level else other + 1


def thresholds(value_range: tuple[float, float], k: int) -> list[float]:
    """The ``k - 1`` cut points of ``k`` equal-width levels over ``value_range``.

    For example stress (a probability) with its default ``k = 2``: 0.5; valence and arousal
    (in ``[-1, 1]``) with ``k = 3``: -1/3 and +1/3. A value on a cut point goes to the upper level.
    """
    low, high = value_range
    return [low + (high - low) * i / k for i in range(1, k)]


def discretise(value: float, value_range: tuple[float, float], k: int) -> int:
    """The level (``0..k-1``) of ``value``: equal-width bins over ``value_range``, clipped."""
    if not math.isfinite(value):
        raise ValueError(f"cannot discretise {value!r}")
    return sum(1 for cut in thresholds(value_range, k) if value >= cut)
