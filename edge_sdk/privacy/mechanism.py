"""The device's side of k-ary randomized response: where the randomness comes from, and the
discretisation of daily means into levels.

The release contract itself (the probability of keeping the true level, the sampling rule, the
debiasing the cloud applies) is :mod:`sync.rr`, shared with the cloud. This module supplies its
randomness: :func:`secrets.randbelow` unless a test injects a seeded source.
"""

from __future__ import annotations

import math
import secrets
from typing import Final, Protocol, runtime_checkable

from sync.rr import RandBelow

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


RandomSource = RandBelow | SupportsRandrange
"""``randbelow(n) -> int`` uniform in ``[0, n)``, or an object with ``randrange(n)``."""


def randbelow_of(source: RandomSource | None) -> RandBelow:
    """The ``randbelow`` function of ``source``; :func:`secrets.randbelow` for ``None``."""
    if source is None:
        return secrets.randbelow
    if isinstance(source, SupportsRandrange):
        return source.randrange
    return source


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
