"""Touch features on hand-computed fixtures."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge_sdk.features import touch

DOWN, MOVE, UP = 0, 1, 2


def arrays(
    t: list[int], phase: list[int], x: list[float], y: list[float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # type: ignore[type-arg]
    return (
        np.array(t, dtype=np.int64),
        np.array(phase, dtype=np.int8),
        np.array(x, dtype=np.float64),
        np.array(y, dtype=np.float64),
    )


def test_pressure_mean_and_std() -> None:
    pressure = np.array([0.2, 0.4, 0.6])
    assert touch.pressure_mean(pressure) == pytest.approx(0.4)
    assert touch.pressure_std(pressure) == pytest.approx(math.sqrt(0.08 / 3))


def test_contact_size_mean() -> None:
    assert touch.contact_size_mean(np.array([0.1, 0.3, 0.2, 0.6])) == pytest.approx(0.3)


def test_touch_features_without_touch_are_zero() -> None:
    empty = np.array([], dtype=np.float64)
    assert (touch.pressure_mean(empty), touch.pressure_std(empty), touch.contact_size_mean(empty)) == (
        0,
        0,
        0,
    )


def test_stroke_ids() -> None:
    phase = np.array([MOVE, UP, DOWN, MOVE, UP, MOVE, DOWN, UP], dtype=np.int8)
    assert touch.stroke_ids(phase).tolist() == [0, 0, 1, 1, 1, 2, 3, 3]
    assert touch.stroke_ids(np.array([], dtype=np.int8)).tolist() == []


def test_swipe_speed_over_swipes_only() -> None:
    # Swipe 1: (0,0) -> (30,40) -> (60,80) over 200 ms, 100 px. A tap far away: not a swipe, and
    # the jump to it is not part of any stroke. Swipe 2: (0,0) -> (0,10) -> (0,10) over 200 ms, 10 px.
    t, phase, x, y = arrays(
        [0, 100, 200, 300, 400, 500, 600, 700],
        [DOWN, MOVE, UP, DOWN, UP, DOWN, MOVE, UP],
        [0, 30, 60, 500, 500, 0, 0, 0],
        [0, 40, 80, 500, 500, 0, 10, 10],
    )
    assert touch.swipe_speed_px_s(t, phase, x, y) == pytest.approx(110 / 0.4)


def test_swipe_cut_by_the_window_start_still_counts() -> None:
    t, phase, x, y = arrays([0, 100, 200], [MOVE, MOVE, UP], [0, 3, 6], [0, 4, 8])
    assert touch.swipe_speed_px_s(t, phase, x, y) == pytest.approx(10 / 0.2)


def test_swipe_speed_without_swipes_is_zero() -> None:
    assert (
        touch.swipe_speed_px_s(*arrays([0, 80, 200, 260], [DOWN, UP, DOWN, UP], [0, 5, 9, 9], [0, 0, 0, 0]))
        == 0
    )
    assert touch.swipe_speed_px_s(*arrays([0], [MOVE], [1], [1])) == 0.0
    assert touch.swipe_speed_px_s(*arrays([], [], [], [])) == 0.0


def test_swipe_speed_with_zero_duration_is_zero() -> None:
    assert touch.swipe_speed_px_s(*arrays([50, 50, 50], [DOWN, MOVE, UP], [0, 10, 20], [0, 0, 0])) == 0.0
