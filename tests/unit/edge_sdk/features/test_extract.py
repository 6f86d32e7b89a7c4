"""The feature vector: order, values, neutral values for missing modalities, batching, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge_sdk.capture import (
    ActivityWindow,
    AppEvent,
    Event,
    KeyEvent,
    MotionEvent,
    Recorder,
    TouchEvent,
    window_from_events,
)
from edge_sdk.features import (
    FEATURE_INDEX,
    FEATURE_NAMES,
    N_FEATURES,
    InvalidTzOffset,
    extract,
    extract_many,
)

MIDNIGHT_UTC = 1_704_067_200_000  # 2024-01-01T00:00:00Z
T0 = MIDNIGHT_UTC + 6 * 3_600_000  # 06:00 UTC


def full_events() -> list[Event]:
    """Every modality, small enough to compute by hand (motion long enough for a spectrum)."""
    events: list[Event] = [
        KeyEvent(T0 + 0, T0 + 50, "character"),
        KeyEvent(T0 + 100, T0 + 180, "backspace"),
        KeyEvent(T0 + 300, T0 + 410, "character"),
        KeyEvent(T0 + 600, T0 + 660, "space"),
        KeyEvent(T0 + 3600, T0 + 3690, "backspace"),
        KeyEvent(T0 + 3700, T0 + 3770, "character"),
        TouchEvent(T0 + 1000, "down", 0.2, 0.1, 0.0, 0.0),
        TouchEvent(T0 + 1100, "move", 0.4, 0.3, 30.0, 40.0),
        TouchEvent(T0 + 1200, "up", 0.6, 0.2, 60.0, 80.0),
        AppEvent(T0 + 5, "screen_enter", "home"),
    ]
    # 8 Hz tremor at 50 Hz for 4 s along z, from T0 + 1000 to T0 + 4980.
    events += [
        MotionEvent(T0 + 1000 + 20 * i, 0.0, 0.0, 9.81 + 0.3 * math.sin(2 * math.pi * 8 * i / 50))
        for i in range(200)
    ]
    return events


def feature(vector: np.ndarray, name: str) -> float:  # type: ignore[type-arg]
    return float(vector[FEATURE_INDEX[name]])


def test_vector_shape_type_and_finiteness() -> None:
    vector = extract(window_from_events(full_events()), 0)
    assert vector.dtype == np.float32
    assert vector.shape == (N_FEATURES,)
    assert np.isfinite(vector).all()


def test_vector_values_on_the_fixture() -> None:
    v = extract(window_from_events(full_events()), 0)
    expected = {
        "iki_mean_ms": 175.0,
        "iki_cv": math.sqrt(6875) / 175,
        "hold_mean_ms": 460 / 6,
        "backspace_ratio": 2 / 6,
        # One pause in a 4.98 s window.
        "pause_rate_per_min": 1 / (4.98 / 60),
        "burstiness": (math.sqrt(1282400) - 740) / (math.sqrt(1282400) + 740),
        "touch_pressure_mean": 0.4,
        "touch_pressure_std": math.sqrt(0.08 / 3),
        "contact_size_mean": 0.2,
        "swipe_speed_px_s": 100 / 0.2,
        "tod_sin": 1.0,
        "tod_cos": 0.0,
        "session_length_s": 4.98,
        "has_keys": 1.0,
        "has_touch": 1.0,
        "has_motion": 1.0,
    }
    for name, value in expected.items():
        assert feature(v, name) == pytest.approx(value, rel=1e-6, abs=1e-6), name
    # Magnitude 9.81 + 0.3 sin(...) sampled over whole periods: std 0.3 / sqrt(2).
    assert feature(v, "motion_jitter_ms2") == pytest.approx(0.3 / math.sqrt(2), rel=1e-4)
    assert feature(v, "tremor_band_share") > 0.99


def test_missing_modalities_take_neutral_values() -> None:
    v = extract(
        window_from_events(
            [AppEvent(T0, "screen_enter", "home"), AppEvent(T0 + 2000, "screen_leave", "home")]
        ),
        0,
    )
    assert np.isfinite(v).all()
    context = {"tod_sin", "tod_cos", "session_length_s"}
    for name in FEATURE_NAMES:
        if name not in context:
            assert feature(v, name) == 0.0, name
    assert (feature(v, "tod_sin"), feature(v, "session_length_s")) == (1.0, 2.0)


def test_a_single_key_has_keys_but_neutral_rhythm() -> None:
    v = extract(window_from_events([KeyEvent(T0, T0 + 95, "character")]), 0)
    assert feature(v, "has_keys") == 1.0
    assert feature(v, "hold_mean_ms") == 95.0
    for name in ("iki_mean_ms", "iki_cv", "pause_rate_per_min", "burstiness", "session_length_s"):
        assert feature(v, name) == 0.0, name


def test_extreme_inputs_are_clipped_to_float32() -> None:
    events: list[Event] = [
        TouchEvent(T0, "down", 0.5, 0.1, 0.0, 0.0),
        TouchEvent(T0 + 1, "move", 0.5, 0.1, 1e300, 0.0),
        TouchEvent(T0 + 2, "up", 0.5, 0.1, 1e300, 0.0),
    ]
    v = extract(window_from_events(events), 0)
    assert np.isfinite(v).all()
    assert feature(v, "swipe_speed_px_s") == float(np.finfo(np.float32).max)


def test_time_of_day_uses_the_utc_offset() -> None:
    window = window_from_events([KeyEvent(T0, T0 + 50, "enter")])
    v = extract(window, -360)  # 06:00 UTC is midnight at UTC-6
    assert feature(v, "tod_sin") == pytest.approx(0.0, abs=1e-7)
    assert feature(v, "tod_cos") == 1.0


def test_extract_refuses_a_bad_utc_offset() -> None:
    with pytest.raises(InvalidTzOffset):
        extract(window_from_events([KeyEvent(T0, T0 + 50, "enter")]), 900)


def windows_from_recorder() -> list[ActivityWindow]:
    rec = Recorder(enabled=lambda: True)
    events = full_events()
    rec.record(events)
    later = [KeyEvent(T0 + 100_000 + 150 * i, T0 + 100_080 + 150 * i, "character") for i in range(40)]
    rec.record(later)
    return rec.drain_windows(T0 + 10**7)


def test_extract_many_stacks_extract() -> None:
    windows = windows_from_recorder()
    assert len(windows) == 2
    matrix = extract_many(windows, 60)
    assert matrix.dtype == np.float32 and matrix.shape == (2, N_FEATURES)
    for row, window in zip(matrix, windows, strict=True):
        assert row.tobytes() == extract(window, 60).tobytes()


def test_extract_many_takes_one_offset_per_window() -> None:
    windows = windows_from_recorder()
    matrix = extract_many(windows, [0, -360])
    assert matrix[0].tobytes() == extract(windows[0], 0).tobytes()
    assert matrix[1].tobytes() == extract(windows[1], -360).tobytes()


def test_extract_many_refuses_mismatched_or_bad_offsets() -> None:
    windows = windows_from_recorder()
    with pytest.raises(InvalidTzOffset):
        extract_many(windows, [0])
    with pytest.raises(InvalidTzOffset):
        extract_many(windows, [0, 9999])


def test_extract_many_of_nothing_is_an_empty_matrix() -> None:
    assert extract_many([], 0).shape == (0, N_FEATURES)


def test_extraction_is_deterministic() -> None:
    first = extract_many(windows_from_recorder(), 0).tobytes()
    second = extract_many(windows_from_recorder(), 0).tobytes()
    assert first == second
    window = window_from_events(full_events())
    assert extract(window, 0).tobytes() == extract(window, 0).tobytes()
