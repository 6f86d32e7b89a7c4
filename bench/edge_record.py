"""µs of ``Recorder.record()`` per event, in batches of 100, on one core.

Events are built before the clock starts; the recorder's buffer is drained between rounds outside
the clock, so the figure is validation plus buffering only. Mixes: the realistic one (motion at
100 Hz dominates, touch and keys in bursts, a few app events), each kind alone, and the cost of a
batch while consent is off (dropped unvalidated). The best of ``--repeats`` rounds is reported, as
the least disturbed by other load on the machine. Run: ``python -m bench.edge_record``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable

from edge_sdk.capture import AppEvent, Event, KeyEvent, MotionEvent, Recorder, TouchEvent, TouchPhase

BATCH = 100
T0 = 1_700_000_000_000


def _motion(i: int, t: int) -> Event:
    return MotionEvent(t, 0.1 * math.sin(i), -0.2, 9.81 + 0.05 * math.cos(i))


def _touch(i: int, t: int) -> Event:
    phase: TouchPhase = "down" if i % 10 == 0 else "up" if i % 10 == 9 else "move"
    return TouchEvent(t, phase, 0.3 + 0.01 * (i % 7), 0.12, float(i % 1080), float(i % 1920))


def _key(i: int, t: int) -> Event:
    return KeyEvent(t, t + 85, "backspace" if i % 12 == 0 else "space" if i % 6 == 0 else "character")


def _app(i: int, t: int) -> Event:
    return AppEvent(t, "screen_enter" if i % 2 == 0 else "screen_leave", "offers")


def _realistic(i: int, t: int) -> Event:
    # Per 100 events: 70 motion, 20 touch, 9 key, 1 app.
    slot = i % 100
    if slot < 70:
        return _motion(i, t)
    if slot < 90:
        return _touch(i, t)
    if slot < 99:
        return _key(i, t)
    return _app(i, t)


def _batches(make: Callable[[int, int], Event], n_events: int) -> list[list[Event]]:
    events = [make(i, T0 + 10 * i) for i in range(n_events)]
    return [events[i : i + BATCH] for i in range(0, n_events, BATCH)]


def _us_per_event(make: Callable[[int, int], Event], n_events: int, repeats: int, *, enabled: bool) -> float:
    batches = _batches(make, n_events)
    best = math.inf
    for _ in range(repeats):
        recorder = Recorder(enabled=lambda: enabled, max_buffered_events=n_events + BATCH)
        start = time.perf_counter()
        for batch in batches:
            recorder.record(batch)
        elapsed = time.perf_counter() - start
        best = min(best, elapsed)
        recorder.clear()
    return best / n_events * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=100_000, help="events per round (default 100000)")
    parser.add_argument("--repeats", type=int, default=5, help="rounds; the best is reported (default 5)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    print(f"Recorder.record(), batches of {BATCH}, {args.events} events per round, best of {args.repeats}")
    mixes: list[tuple[str, Callable[[int, int], Event], bool]] = [
        ("realistic mix (70% motion, 20% touch, 9% key, 1% app)", _realistic, True),
        ("motion only", _motion, True),
        ("touch only", _touch, True),
        ("key only", _key, True),
        ("app only", _app, True),
        ("realistic mix, consent off (dropped)", _realistic, False),
    ]
    for label, make, enabled in mixes:
        figure = _us_per_event(make, args.events, args.repeats, enabled=enabled)
        print(f"  {label:<58} {figure:7.3f} µs/event")
    return 0


if __name__ == "__main__":
    sys.exit(main())
