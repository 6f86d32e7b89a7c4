"""Typing features: rhythm, hold time, errors, pauses, burstiness. Pure numpy, key arrays in.

Inputs are the columns of :class:`~edge_sdk.capture.window.KeyArrays`: key-down times in
non-decreasing order (ms), up times, and key class codes. Each function returns a plain float and
its documented neutral value when the window cannot support it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from edge_sdk.capture.events import KEY_BACKSPACE
from edge_sdk.features.spec import PAUSE_THRESHOLD_MS

Times = npt.NDArray[np.int64]
Codes = npt.NDArray[np.int8]


def inter_key_intervals(down_ms: Times) -> npt.NDArray[np.float64]:
    """Differences between consecutive key-down times, in ms (length ``n - 1``, empty below 2 keys)."""
    return np.diff(down_ms).astype(np.float64)


def _rhythm_intervals(down_ms: Times) -> npt.NDArray[np.float64]:
    intervals = inter_key_intervals(down_ms)
    return intervals[intervals <= PAUSE_THRESHOLD_MS]


def iki_mean_ms(down_ms: Times) -> float:
    """Mean inter-key interval over intervals of at most ``PAUSE_THRESHOLD_MS``; 0 if none."""
    rhythm = _rhythm_intervals(down_ms)
    return float(rhythm.mean()) if len(rhythm) else 0.0


def iki_cv(down_ms: Times) -> float:
    """Coefficient of variation (population std / mean) of the rhythm intervals; 0 if none or mean 0."""
    rhythm = _rhythm_intervals(down_ms)
    if not len(rhythm):
        return 0.0
    mean = float(rhythm.mean())
    return float(rhythm.std()) / mean if mean > 0.0 else 0.0


def hold_mean_ms(down_ms: Times, up_ms: Times) -> float:
    """Mean of ``up - down`` over key events; 0 without keys."""
    if not len(down_ms):
        return 0.0
    return float((up_ms - down_ms).astype(np.float64).mean())


def backspace_ratio(key_class: Codes) -> float:
    """Share of backspace key events; 0 without keys."""
    if not len(key_class):
        return 0.0
    return float(np.count_nonzero(key_class == KEY_BACKSPACE)) / len(key_class)


def pause_rate_per_min(down_ms: Times, span_ms: int) -> float:
    """Intervals longer than ``PAUSE_THRESHOLD_MS`` per minute of ``span_ms``; 0 without pauses.

    A pause lies inside the window, so ``span_ms`` exceeds the threshold whenever there is one and
    the rate stays bounded.
    """
    pauses = int(np.count_nonzero(inter_key_intervals(down_ms) > PAUSE_THRESHOLD_MS))
    if pauses == 0 or span_ms <= 0:
        return 0.0
    return pauses / (span_ms / 60_000.0)


def burstiness(down_ms: Times) -> float:
    """``(sigma - mu) / (sigma + mu)`` of all inter-key intervals; 0 below 2 intervals or if both are 0."""
    intervals = inter_key_intervals(down_ms)
    if len(intervals) < 2:
        return 0.0
    mu = float(intervals.mean())
    sigma = float(intervals.std())
    return (sigma - mu) / (sigma + mu) if sigma + mu > 0.0 else 0.0
