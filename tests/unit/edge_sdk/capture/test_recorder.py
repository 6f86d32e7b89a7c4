"""Recorder: batches in memory, the consent gate, the buffer bound, and activity window cutting."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

from edge_sdk.capture import (
    KEY_CLASSES,
    AppEvent,
    Event,
    KeyEvent,
    MotionEvent,
    Recorder,
    TouchEvent,
)
from edge_sdk.errors import InvalidSettings

T0 = 1_700_000_000_000


def always() -> bool:
    return True


def keys_every(step_ms: int, start_ms: int, end_ms: int) -> list[Event]:
    """Key events with down times start, start+step, ... up to end inclusive."""
    return [KeyEvent(t, t + 80, "character") for t in range(start_ms, end_ms + 1, step_ms)]


def mixed_batch(start_ms: int, n: int = 100) -> list[Event]:
    """``n`` events cycling through the four kinds, 10 ms apart."""
    batch: list[Event] = []
    for i in range(n):
        t = start_ms + 10 * i
        match i % 4:
            case 0:
                batch.append(KeyEvent(t, t + 90, KEY_CLASSES[i % len(KEY_CLASSES)]))
            case 1:
                batch.append(TouchEvent(t, "move", 0.4, 0.1, float(i), float(2 * i)))
            case 2:
                batch.append(MotionEvent(t, 0.1, -0.2, 9.8))
            case _:
                batch.append(AppEvent(t, "screen_enter", "home"))
    return batch


def test_batches_of_100_are_buffered_in_memory() -> None:
    rec = Recorder(enabled=always)
    for b in range(10):
        assert rec.record(mixed_batch(T0 + 1000 * b)) == 100
    assert rec.buffered == 1000
    (window,) = rec.drain_windows(T0 + 10_000 + 60_000)
    assert (len(window.keys), len(window.touches), len(window.motion), len(window.apps)) == (
        250,
        250,
        250,
        250,
    )
    assert window.start_ms == T0
    assert window.end_ms == T0 + 9000 + 990
    assert rec.buffered == 0


def test_window_holds_the_recorded_values_as_arrays() -> None:
    rec = Recorder(enabled=always)
    rec.record(
        [
            KeyEvent(T0, T0 + 70, "backspace"),
            TouchEvent(T0 + 5, "down", 0.25, 0.5, 1.5, 2.5),
            MotionEvent(T0 + 7, 1.0, 2.0, 3.0),
            AppEvent(T0 + 9, "screen_leave", "offers"),
        ]
    )
    (w,) = rec.drain_windows(T0 + 60_000)
    assert w.keys.down_ms.tolist() == [T0] and w.keys.up_ms.tolist() == [T0 + 70]
    assert w.keys.key_class.tolist() == [KEY_CLASSES.index("backspace")]
    assert w.touches.t_ms.tolist() == [T0 + 5] and w.touches.phase.tolist() == [0]
    assert (w.touches.pressure[0], w.touches.size[0], w.touches.x[0], w.touches.y[0]) == (0.25, 0.5, 1.5, 2.5)
    assert w.motion.t_ms.tolist() == [T0 + 7]
    assert (w.motion.ax[0], w.motion.ay[0], w.motion.az[0]) == (1.0, 2.0, 3.0)
    assert w.apps.t_ms.tolist() == [T0 + 9] and w.apps.kind.tolist() == [1] and w.apps.screen == ("offers",)
    assert w.keys.down_ms.dtype == np.int64 and w.touches.pressure.dtype == np.float64
    assert (w.span_ms, w.n_events) == (9, 4)


def test_a_batch_decoded_from_json_records_like_constructed_events() -> None:
    body = (
        b'[{"type":"key","down_ms":10,"up_ms":90,"key_class":"space"},'
        b'{"type":"touch","t_ms":12,"phase":"down","pressure":0.3,"size":0.1,"x":1,"y":2},'
        b'{"type":"motion","t_ms":15,"ax":0.0,"ay":0.1,"az":9.8},'
        b'{"type":"app","t_ms":20,"kind":"screen_enter","screen":"home"}]'
    )
    batch = msgspec.json.decode(body, type=list[Event])
    assert batch[0] == KeyEvent(10, 90, "space")
    assert Recorder(enabled=always).record(batch) == 4
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(body.replace(b'"pressure":0.3', b'"pressure":3'), type=list[Event])


def test_disabled_capture_drops_and_counts_without_validating() -> None:
    rec = Recorder(enabled=lambda: False)
    assert rec.record(mixed_batch(T0)) == 0
    invalid = [TouchEvent(T0, "down", 7.0, 0.0, 0.0, 0.0)]
    assert rec.record(invalid) == 0
    assert rec.dropped == 101
    assert rec.buffered == 0
    assert rec.drain_windows(T0 + 10**9) == []


def test_the_gate_is_asked_on_every_call_and_a_disabled_drain_discards_the_buffer() -> None:
    consent = {"inference": True}
    rec = Recorder(enabled=lambda: consent["inference"])
    assert rec.record(mixed_batch(T0)) == 100
    consent["inference"] = False
    assert rec.record(mixed_batch(T0 + 1000)) == 0
    assert rec.drain_windows(T0 + 10**9) == []
    assert rec.buffered == 0
    assert rec.dropped == 200
    consent["inference"] = True
    assert rec.record(mixed_batch(T0 + 2000)) == 100
    assert len(rec.drain_windows(T0 + 10**9)) == 1


def test_a_batch_that_would_overflow_the_buffer_is_dropped_and_counted() -> None:
    rec = Recorder(enabled=always, max_buffered_events=150)
    assert rec.record(mixed_batch(T0)) == 100
    assert rec.record(mixed_batch(T0 + 1000)) == 0
    assert (rec.buffered, rec.overflowed) == (100, 100)
    rec.drain_windows(T0 + 10**9)
    assert rec.record(mixed_batch(T0 + 2000)) == 100


def test_clear_discards_the_buffer() -> None:
    rec = Recorder(enabled=always)
    rec.record(mixed_batch(T0))
    assert rec.clear() == 100
    assert rec.buffered == 0
    assert rec.drain_windows(T0 + 10**9) == []


@pytest.mark.parametrize(
    "settings",
    [
        {"window_span_ms": 0},
        {"window_span_ms": 1.5},
        {"idle_gap_ms": -1},
        {"max_buffered_events": 0},
        {"window_span_ms": True},
    ],
)
def test_invalid_recorder_settings_are_refused(settings: dict[str, object]) -> None:
    with pytest.raises(InvalidSettings):
        Recorder(enabled=always, **settings)  # type: ignore[arg-type]


def test_nothing_buffered_drains_nothing() -> None:
    assert Recorder(enabled=always).drain_windows(T0) == []


def test_windows_are_cut_at_the_span() -> None:
    rec = Recorder(enabled=always)
    rec.record(keys_every(1000, T0, T0 + 150_000))
    first, second = rec.drain_windows(T0 + 150_000)
    assert (first.start_ms, first.end_ms, len(first.keys)) == (T0, T0 + 59_000, 60)
    assert (second.start_ms, second.end_ms, len(second.keys)) == (T0 + 60_000, T0 + 119_000, 60)
    # The third window started at +120 s is open until +180 s.
    assert rec.buffered == 31
    assert rec.drain_windows(T0 + 179_999) == []
    (third,) = rec.drain_windows(T0 + 180_000)
    assert (third.start_ms, third.end_ms, len(third.keys)) == (T0 + 120_000, T0 + 150_000, 31)
    assert rec.buffered == 0


def test_an_event_exactly_one_span_after_the_start_opens_the_next_window() -> None:
    rec = Recorder(enabled=always)
    rec.record([MotionEvent(T0, 0.0, 0.0, 9.8), MotionEvent(T0 + 60_000, 0.0, 0.0, 9.8)])
    (first,) = rec.drain_windows(T0 + 60_000)
    assert first.motion.t_ms.tolist() == [T0]
    assert rec.buffered == 1


def test_an_idle_gap_ends_a_window() -> None:
    rec = Recorder(enabled=always)
    rec.record(keys_every(1000, T0, T0 + 10_000) + keys_every(1000, T0 + 50_000, T0 + 55_000))
    (first,) = rec.drain_windows(T0 + 55_000)
    assert (first.start_ms, first.end_ms, len(first.keys)) == (T0, T0 + 10_000, 11)
    # Idle for exactly the gap keeps the window open; one millisecond more closes it.
    assert rec.drain_windows(T0 + 85_000) == []
    (second,) = rec.drain_windows(T0 + 85_001)
    assert (second.start_ms, second.end_ms) == (T0 + 50_000, T0 + 55_000)


def test_a_gap_equal_to_the_idle_gap_does_not_cut() -> None:
    rec = Recorder(enabled=always)
    rec.record([KeyEvent(T0, T0 + 50, "character"), KeyEvent(T0 + 30_000, T0 + 30_050, "character")])
    (window,) = rec.drain_windows(T0 + 60_000)
    assert len(window.keys) == 2


def test_span_and_idle_gap_are_configurable() -> None:
    rec = Recorder(enabled=always, window_span_ms=10_000, idle_gap_ms=2_000)
    assert (rec.window_span_ms, rec.idle_gap_ms) == (10_000, 2_000)
    rec.record(keys_every(1000, T0, T0 + 25_000) + keys_every(500, T0 + 28_000, T0 + 29_000))
    windows = rec.drain_windows(T0 + 40_000)
    assert [(w.start_ms - T0, w.end_ms - T0) for w in windows] == [
        (0, 9_000),
        (10_000, 19_000),
        (20_000, 25_000),
        (28_000, 29_000),
    ]


def test_kinds_are_cut_on_one_shared_timeline() -> None:
    rec = Recorder(enabled=always)
    rec.record(
        [MotionEvent(T0 + t, 0.0, 0.0, 9.8) for t in range(0, 70_000, 5_000)]
        + [TouchEvent(T0 + t, "down", 0.5, 0.1, 0.0, 0.0) for t in (59_999, 60_000, 65_000)]
        + [KeyEvent(T0 + 100, T0 + 200, "enter"), AppEvent(T0 + 61_000, "screen_enter", "home")]
    )
    first, second = rec.drain_windows(T0 + 200_000)
    assert first.motion.t_ms.tolist() == [T0 + t for t in range(0, 60_000, 5_000)]
    assert first.touches.t_ms.tolist() == [T0 + 59_999]
    assert len(first.keys) == 1 and len(first.apps) == 0
    assert second.touches.t_ms.tolist() == [T0 + 60_000, T0 + 65_000]
    assert second.apps.screen == ("home",)
    assert (second.start_ms, second.end_ms) == (T0 + 60_000, T0 + 65_000)


def test_an_event_arriving_after_its_window_closed_is_dropped_as_late() -> None:
    rec = Recorder(enabled=always)
    rec.record(keys_every(1000, T0, T0 + 70_000))
    (first,) = rec.drain_windows(T0 + 70_000)
    assert first.end_ms == T0 + 59_000
    # Motion delivered behind the keys: the first two belong to the closed window.
    rec.record([MotionEvent(T0 + t, 0.0, 0.0, 9.8) for t in (30_000, 59_999, 60_000, 61_000)])
    (second,) = rec.drain_windows(T0 + 200_000)
    assert rec.late == 2
    assert second.motion.t_ms.tolist() == [T0 + 60_000, T0 + 61_000]
    assert rec.buffered == 0


def test_drained_events_leave_the_recorder_and_the_open_window_stays() -> None:
    rec = Recorder(enabled=always)
    rec.record(keys_every(1000, T0, T0 + 65_000))
    assert rec.buffered == 66
    (first,) = rec.drain_windows(T0 + 65_000)
    assert len(first.keys) == 60
    assert rec.buffered == 6
    assert rec.drain_windows(T0 + 65_000) == []
    rec.record(keys_every(1000, T0 + 66_000, T0 + 70_000))
    (second,) = rec.drain_windows(T0 + 200_000)
    assert second.keys.down_ms.tolist() == list(range(T0 + 60_000, T0 + 70_001, 1000))


def test_a_clock_behind_the_events_closes_nothing() -> None:
    rec = Recorder(enabled=always)
    rec.record(keys_every(1000, T0, T0 + 5_000))
    assert rec.drain_windows(T0 - 10**6) == []
    assert rec.buffered == 6


def test_windows_are_cut_the_same_however_the_events_were_batched() -> None:
    events = keys_every(700, T0, T0 + 200_000)
    whole = Recorder(enabled=always)
    whole.record(events)
    pieces = Recorder(enabled=always)
    cut: list[tuple[int, int]] = []
    for i in range(0, len(events), 100):
        pieces.record(events[i : i + 100])
        cut += [(w.start_ms, w.end_ms) for w in pieces.drain_windows(T0 + 700 * i)]
    cut += [(w.start_ms, w.end_ms) for w in pieces.drain_windows(T0 + 10**9)]
    assert cut == [(w.start_ms, w.end_ms) for w in whole.drain_windows(T0 + 10**9)]
