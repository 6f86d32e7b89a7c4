"""Every way ``record()`` refuses a batch: a named error naming the index, and nothing recorded."""

from __future__ import annotations

import math
from typing import Any

import pytest

from edge_sdk.capture import (
    AppEvent,
    InvalidEvent,
    InvalidFieldType,
    InvalidScreenName,
    InvalidTimestamp,
    KeyEvent,
    KeyUpBeforeDown,
    MotionEvent,
    NonFiniteValue,
    NonMonotonicTime,
    Recorder,
    TouchEvent,
    UnknownCategory,
    UnsupportedEvent,
    ValueOutOfRange,
    window_from_events,
)
from edge_sdk.errors import EdgeError

FAR_FUTURE_MS = 10**12


def recorder() -> Recorder:
    return Recorder(enabled=lambda: True)


def touch(t_ms: int, **overrides: Any) -> TouchEvent:
    fields: dict[str, Any] = {
        "t_ms": t_ms,
        "phase": "move",
        "pressure": 0.5,
        "size": 0.2,
        "x": 10.0,
        "y": 20.0,
    }
    fields.update(overrides)
    return TouchEvent(**fields)


def assert_refused(
    rec: Recorder, batch: list[Any], error: type[InvalidEvent], index: int, field: str
) -> None:
    """The batch raises ``error`` at ``index``/``field`` and leaves the recorder empty."""
    with pytest.raises(error) as caught:
        rec.record(batch)
    assert caught.value.index == index
    assert caught.value.field == field
    assert rec.buffered == 0
    assert rec.drain_windows(FAR_FUTURE_MS) == []


def test_errors_are_edge_errors_and_value_errors() -> None:
    error = NonFiniteValue(3, "x", "must be finite")
    assert isinstance(error, InvalidEvent)
    assert isinstance(error, EdgeError)
    assert isinstance(error, ValueError)
    assert "event 3 of the batch: x" in str(error)


def test_time_going_backwards_within_a_batch_refuses_the_whole_batch() -> None:
    rec = recorder()
    batch = [
        MotionEvent(1000, 0.0, 0.0, 9.8),
        MotionEvent(1010, 0.0, 0.0, 9.8),
        MotionEvent(1005, 0.0, 0.0, 9.8),
    ]
    assert_refused(rec, batch, NonMonotonicTime, 2, "t_ms")


def test_time_going_backwards_against_an_earlier_batch_is_refused() -> None:
    rec = recorder()
    assert rec.record([touch(5000)]) == 1
    with pytest.raises(NonMonotonicTime) as caught:
        rec.record([touch(5001), touch(4999)])
    assert caught.value.index == 1
    assert rec.buffered == 1


def test_key_down_times_going_backwards_are_refused() -> None:
    rec = recorder()
    batch = [KeyEvent(2000, 2100, "character"), KeyEvent(1999, 2200, "character")]
    assert_refused(rec, batch, NonMonotonicTime, 1, "down_ms")


def test_equal_times_within_a_kind_are_accepted() -> None:
    rec = recorder()
    assert rec.record([touch(100), touch(100), KeyEvent(100, 100, "space"), KeyEvent(100, 150, "enter")]) == 4


def test_time_may_go_backwards_across_kinds() -> None:
    rec = recorder()
    assert (
        rec.record([touch(5000), MotionEvent(1000, 0.0, 0.0, 9.8), AppEvent(10, "screen_enter", "home")]) == 3
    )


def test_a_refused_batch_does_not_advance_the_time_of_its_kind() -> None:
    rec = recorder()
    with pytest.raises(NonFiniteValue):
        rec.record([touch(9000), touch(9001, pressure=math.nan)])
    # 9000 was never accepted, so an earlier time is still fine.
    assert rec.record([touch(500)]) == 1


def test_nan_pressure_is_refused() -> None:
    assert_refused(recorder(), [touch(1), touch(2, pressure=math.nan)], NonFiniteValue, 1, "pressure")


def test_nan_position_is_refused() -> None:
    assert_refused(recorder(), [touch(1, y=math.nan)], NonFiniteValue, 0, "y")


def test_infinite_acceleration_is_refused() -> None:
    batch = [MotionEvent(1, 0.0, 0.0, 9.8), MotionEvent(2, math.inf, 0.0, 9.8)]
    assert_refused(recorder(), batch, NonFiniteValue, 1, "ax")


def test_negative_infinite_size_is_refused() -> None:
    assert_refused(recorder(), [touch(1, size=-math.inf)], NonFiniteValue, 0, "size")


@pytest.mark.parametrize("pressure", [1.0000001, 1.5, -0.1])
def test_pressure_outside_zero_one_is_refused(pressure: float) -> None:
    assert_refused(
        recorder(), [touch(1), touch(2), touch(3, pressure=pressure)], ValueOutOfRange, 2, "pressure"
    )


@pytest.mark.parametrize("pressure", [0.0, 1.0])
def test_pressure_bounds_are_accepted(pressure: float) -> None:
    assert recorder().record([touch(1, pressure=pressure)]) == 1


def test_negative_contact_size_is_refused() -> None:
    assert_refused(recorder(), [touch(1, size=-0.01)], ValueOutOfRange, 0, "size")


def test_key_up_before_down_is_refused() -> None:
    batch = [KeyEvent(1000, 1100, "character"), KeyEvent(2000, 1999, "backspace")]
    assert_refused(recorder(), batch, KeyUpBeforeDown, 1, "up_ms")


@pytest.mark.parametrize("t_ms", [-1, 1.5, 1000.0, True, 2**53, "1000"])
def test_a_time_that_is_not_an_epoch_millisecond_is_refused(t_ms: Any) -> None:
    assert_refused(recorder(), [MotionEvent(t_ms, 0.0, 0.0, 9.8)], InvalidTimestamp, 0, "t_ms")


def test_a_key_up_time_that_is_not_an_epoch_millisecond_is_refused() -> None:
    assert_refused(recorder(), [KeyEvent(1000, 1100.5, "space")], InvalidTimestamp, 0, "up_ms")  # type: ignore[arg-type]


def test_unknown_key_class_is_refused() -> None:
    assert_refused(recorder(), [KeyEvent(1, 2, "a")], UnknownCategory, 0, "key_class")  # type: ignore[arg-type]


def test_unknown_touch_phase_is_refused() -> None:
    assert_refused(recorder(), [touch(1, phase="cancel")], UnknownCategory, 0, "phase")


def test_unknown_app_event_kind_is_refused() -> None:
    batch = [AppEvent(1, "app_open", "home")]  # type: ignore[arg-type]
    assert_refused(recorder(), batch, UnknownCategory, 0, "kind")


@pytest.mark.parametrize("screen", ["", "x" * 65])
def test_empty_or_long_screen_name_is_refused(screen: str) -> None:
    assert_refused(recorder(), [AppEvent(1, "screen_enter", screen)], InvalidScreenName, 0, "screen")


def test_screen_name_of_the_maximum_length_is_accepted() -> None:
    assert recorder().record([AppEvent(1, "screen_leave", "x" * 64)]) == 1


def test_non_string_screen_name_is_refused() -> None:
    assert_refused(recorder(), [AppEvent(1, "screen_enter", 42)], InvalidFieldType, 0, "screen")  # type: ignore[arg-type]


def test_non_number_pressure_is_refused() -> None:
    assert_refused(recorder(), [touch(1), touch(2, pressure="0.5")], InvalidFieldType, 1, "pressure")


def test_unhashable_category_is_refused() -> None:
    assert_refused(recorder(), [KeyEvent(1, 2, ["character"])], InvalidFieldType, 0, "key_class")  # type: ignore[arg-type]


def test_an_object_that_is_not_an_event_is_refused() -> None:
    batch: list[Any] = [touch(1), {"t_ms": 2, "phase": "down"}]
    assert_refused(recorder(), batch, UnsupportedEvent, 1, "event")


def test_window_from_events_validates_like_record() -> None:
    with pytest.raises(ValueOutOfRange):
        window_from_events([touch(1, pressure=2.0)])


def test_window_from_no_events_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one event"):
        window_from_events([])
