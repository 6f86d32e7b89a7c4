"""Touch features: pressure level and variability, contact size, swipe speed. Pure numpy.

Inputs are the columns of :class:`~edge_sdk.capture.window.TouchArrays` (one pointer; samples in
time order). Each function returns a plain float, 0 when the window has nothing to measure.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from edge_sdk.capture.events import PHASE_DOWN, PHASE_MOVE, PHASE_UP

Floats = npt.NDArray[np.float64]


def pressure_mean(pressure: Floats) -> float:
    """Mean pressure over all samples; 0 without touch."""
    return float(pressure.mean()) if len(pressure) else 0.0


def pressure_std(pressure: Floats) -> float:
    """Population standard deviation of pressure; 0 without touch."""
    return float(pressure.std()) if len(pressure) else 0.0


def contact_size_mean(size: Floats) -> float:
    """Mean contact size; 0 without touch."""
    return float(size.mean()) if len(size) else 0.0


def stroke_ids(phase: npt.NDArray[np.int8]) -> npt.NDArray[np.int64]:
    """Number each sample's stroke: a stroke starts at a down, after an up, or at the first sample.

    The first sample may be a move or an up when the window cut a gesture in two; it still
    belongs to a stroke.
    """
    starts = phase == PHASE_DOWN
    if len(phase):
        starts[0] = True
        starts[1:] |= phase[:-1] == PHASE_UP
    return np.cumsum(starts, dtype=np.int64) - 1


def swipe_speed_px_s(t_ms: npt.NDArray[np.int64], phase: npt.NDArray[np.int8], x: Floats, y: Floats) -> float:
    """Total path length / total duration of strokes holding at least one move sample, in px/s.

    0 without such strokes or when their samples all share one time.
    """
    if len(phase) < 2:
        return 0.0
    ids = stroke_ids(phase)
    is_swipe = np.bincount(ids, weights=(phase == PHASE_MOVE).astype(np.float64)) > 0
    # Segment i joins samples i and i+1; it counts when both are in the same swipe.
    same_stroke = ids[1:] == ids[:-1]
    counted = same_stroke & is_swipe[ids[1:]]
    if not counted.any():
        return 0.0
    distance = float(np.hypot(np.diff(x), np.diff(y))[counted].sum())
    duration_s = float(np.diff(t_ms)[counted].sum()) / 1000.0
    return distance / duration_s if duration_s > 0.0 else 0.0
