"""Typing features on a hand-computed fixture.

Key-down times 0, 100, 300, 600, 3600, 3700 ms: intervals 100, 200, 300, 3000, 100. The 3000 ms
one is a pause (> 2000 ms), so the rhythm intervals are 100, 200, 300, 100: mean 175, population
variance (75² + 25² + 125² + 75²) / 4 = 6875. All five intervals: mean 740, population variance
(640² + 540² + 440² + 2260² + 640²) / 5 = 1282400.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge_sdk.features import keystroke

DOWN = np.array([0, 100, 300, 600, 3600, 3700], dtype=np.int64)
UP = DOWN + np.array([50, 80, 110, 60, 90, 70], dtype=np.int64)
# character, backspace, character, space, backspace, character
CLASSES = np.array([0, 1, 0, 2, 1, 0], dtype=np.int8)
NO_KEYS = np.array([], dtype=np.int64)


def test_inter_key_intervals() -> None:
    assert keystroke.inter_key_intervals(DOWN).tolist() == [100.0, 200.0, 300.0, 3000.0, 100.0]
    assert keystroke.inter_key_intervals(NO_KEYS).tolist() == []


def test_iki_mean_excludes_pauses() -> None:
    assert keystroke.iki_mean_ms(DOWN) == pytest.approx(175.0)


def test_iki_mean_keeps_an_interval_of_exactly_the_threshold() -> None:
    assert keystroke.iki_mean_ms(np.array([0, 2000, 4001], dtype=np.int64)) == pytest.approx(2000.0)


def test_iki_mean_without_intervals_is_zero() -> None:
    assert keystroke.iki_mean_ms(NO_KEYS) == 0.0
    assert keystroke.iki_mean_ms(np.array([5], dtype=np.int64)) == 0.0
    assert keystroke.iki_mean_ms(np.array([0, 5000], dtype=np.int64)) == 0.0


def test_iki_cv() -> None:
    assert keystroke.iki_cv(DOWN) == pytest.approx(math.sqrt(6875) / 175)


def test_iki_cv_of_regular_typing_is_zero_and_degenerate_cases_are_zero() -> None:
    assert keystroke.iki_cv(np.array([0, 150, 300, 450], dtype=np.int64)) == 0.0
    assert keystroke.iki_cv(NO_KEYS) == 0.0
    assert keystroke.iki_cv(np.array([7, 7, 7], dtype=np.int64)) == 0.0


def test_hold_mean() -> None:
    assert keystroke.hold_mean_ms(DOWN, UP) == pytest.approx(460 / 6)
    assert keystroke.hold_mean_ms(NO_KEYS, NO_KEYS) == 0.0


def test_backspace_ratio() -> None:
    assert keystroke.backspace_ratio(CLASSES) == pytest.approx(2 / 6)
    assert keystroke.backspace_ratio(np.array([], dtype=np.int8)) == 0.0


def test_pause_rate_per_minute_of_span() -> None:
    assert keystroke.pause_rate_per_min(DOWN, 60_000) == pytest.approx(1.0)
    assert keystroke.pause_rate_per_min(DOWN, 30_000) == pytest.approx(2.0)
    two_pauses = np.array([0, 2001, 5000], dtype=np.int64)
    assert keystroke.pause_rate_per_min(two_pauses, 5000) == pytest.approx(2 / (5000 / 60_000))


def test_pause_rate_without_pauses_is_zero() -> None:
    assert keystroke.pause_rate_per_min(np.array([0, 2000], dtype=np.int64), 2000) == 0.0
    assert keystroke.pause_rate_per_min(NO_KEYS, 0) == 0.0


def test_burstiness() -> None:
    sigma, mu = math.sqrt(1282400), 740.0
    assert keystroke.burstiness(DOWN) == pytest.approx((sigma - mu) / (sigma + mu))


def test_burstiness_of_regular_typing_is_minus_one() -> None:
    assert keystroke.burstiness(np.array([0, 100, 200, 300], dtype=np.int64)) == pytest.approx(-1.0)


def test_burstiness_neutral_cases_are_zero() -> None:
    assert keystroke.burstiness(np.array([0, 100], dtype=np.int64)) == 0.0
    assert keystroke.burstiness(np.array([9, 9, 9], dtype=np.int64)) == 0.0
    assert keystroke.burstiness(NO_KEYS) == 0.0
