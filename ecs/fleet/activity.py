"""Seeded simulation of a day of phone use as raw capture events (keys, touch, motion, app): what
the fleet simulator's phones record, and what the SDK's pipeline tests feed it.

A day is a number of sessions spread between morning and evening, each shorter than a capture
window and separated by more than the idle gap, so every session becomes exactly one activity
window. Within a session: accelerometer samples at about 50 Hz (gravity at a tilt, hand noise and
a small tremor-band sinusoid), typing with log-normal inter-key intervals, occasional pauses and
backspaces, a few swipes with pressure and contact size, and a screen enter/leave pair. Each
session draws a tension in [0, 1] that makes typing faster and more erratic, presses harder and
the hand shakier, so the model's scores vary across the day. Deterministic for a given generator.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from edge_sdk.capture import AppEvent, Event, KeyClass, KeyEvent, MotionEvent, TouchEvent, TouchPhase

DAY_MS = 86_400_000
T = TypeVar("T")
KEY_CLASS_P: dict[KeyClass, float] = {
    "character": 0.76,
    "space": 0.15,
    "backspace": 0.06,
    "enter": 0.01,
    "other": 0.02,
}


def local_midnight_ms(day: str, offset_min: int) -> int:
    """Epoch ms of local midnight starting ``day`` on a clock ``offset_min`` ahead of UTC."""
    midnight = datetime.datetime.fromisoformat(day).replace(tzinfo=datetime.UTC)
    return int(midnight.timestamp() * 1000) - offset_min * 60_000


@dataclass(frozen=True, slots=True)
class Session:
    """One simulated session: its events (time order within each kind) and its bounds."""

    events: list[Event]
    start_ms: int
    end_ms: int
    """Time of its last event (a key event's time is its ``down_ms``), i.e. its window's end."""


def _event_time(event: Event) -> int:
    return event.down_ms if isinstance(event, KeyEvent) else event.t_ms


def _motion(rng: np.random.Generator, start: int, end: int, tension: float) -> list[Event]:
    times = np.arange(start, end, 20, dtype=np.int64) + rng.integers(0, 3, size=(end - start + 19) // 20)
    seconds = (times - start) / 1000.0
    tilt = rng.uniform(0.3, 1.2)
    tremor = (0.02 + 0.08 * tension) * np.sin(2 * np.pi * rng.uniform(6.0, 10.0) * seconds)
    noise = rng.normal(0.0, 0.05 + 0.25 * tension, size=(len(times), 3))
    ax = noise[:, 0] + tremor
    ay = 9.81 * np.sin(tilt) + noise[:, 1]
    az = 9.81 * np.cos(tilt) + noise[:, 2] + tremor
    return [
        MotionEvent(t_ms=int(t), ax=float(x), ay=float(y), az=float(z))
        for t, x, y, z in zip(times, ax, ay, az, strict=True)
    ]


def _keys(rng: np.random.Generator, start: int, end: int, tension: float) -> list[Event]:
    classes = list(KEY_CLASS_P)
    p = np.array([KEY_CLASS_P[c] for c in classes])
    p[classes.index("backspace")] += 0.06 * tension
    p /= p.sum()
    events: list[Event] = []
    t = start + int(rng.integers(500, 2000))
    while t < end - 1000:
        hold = int(np.clip(rng.normal(95 - 15 * tension, 18), 30, 300))
        events.append(
            KeyEvent(down_ms=t, up_ms=t + hold, key_class=classes[int(rng.choice(len(classes), p=p))])
        )
        gap = rng.lognormal(np.log(210 - 60 * tension), 0.35 + 0.25 * tension)
        if rng.random() < 0.03:
            gap += rng.uniform(2500, 6000)  # a pause to think
        t += max(20, int(gap))
    return events


def _touches(rng: np.random.Generator, start: int, end: int, tension: float) -> list[Event]:
    events: list[Event] = []
    t = start + int(rng.integers(200, 1500))
    while t < end - 600:
        x, y = rng.uniform(100, 900), rng.uniform(400, 1800)
        vx, vy = rng.normal(0, 0.3), rng.normal(-0.8 - 0.4 * tension, 0.25)  # px per ms, mostly upwards
        pressure = float(np.clip(rng.beta(5 + 4 * tension, 6), 0.0, 1.0))
        size = float(np.clip(rng.normal(0.28 + 0.05 * tension, 0.03), 0.05, 1.0))
        steps = int(rng.integers(6, 18))
        for i in range(steps + 1):
            phase: TouchPhase = "down" if i == 0 else ("up" if i == steps else "move")
            jitter = float(np.clip(pressure + rng.normal(0, 0.03 + 0.05 * tension), 0.0, 1.0))
            events.append(
                TouchEvent(
                    t_ms=t + 16 * i,
                    phase=phase,
                    pressure=jitter,
                    size=size,
                    x=x + vx * 16 * i,
                    y=y + vy * 16 * i,
                )
            )
        t += 16 * steps + int(rng.integers(1500, 9000))
    return events


def simulate_session(
    rng: np.random.Generator, start_ms: int, duration_ms: int, tension: tuple[float, float] | None = None
) -> Session:
    """One session of ``duration_ms`` starting at ``start_ms``; its tension drawn from ``tension``
    (a range) when given, else from Beta(2, 3)."""
    level = float(rng.beta(2, 3)) if tension is None else float(rng.uniform(*tension))
    return _session(rng, start_ms, duration_ms, level)


def _session(rng: np.random.Generator, start_ms: int, duration_ms: int, tension: float) -> Session:
    end = start_ms + duration_ms
    events: list[Event] = [AppEvent(t_ms=start_ms, kind="screen_enter", screen="home")]
    events += _motion(rng, start_ms, end, tension)
    events += _keys(rng, start_ms, end, tension)
    events += _touches(rng, start_ms, end, tension)
    events.append(AppEvent(t_ms=end - 1, kind="screen_leave", screen="home"))
    events.sort(key=_event_time)  # stable: per-kind order is kept
    return Session(events, start_ms, max(_event_time(e) for e in events))


def simulate_day(
    rng: np.random.Generator,
    day: str,
    offset_min: int,
    *,
    sessions: int,
    first_hour: float = 8.0,
    last_hour: float = 21.0,
    tension: tuple[float, float] | None = None,
) -> list[Session]:
    """``sessions`` sessions of 30-50 s on local ``day``, spread evenly from ``first_hour`` to
    ``last_hour`` with a few minutes of jitter (always many minutes apart: one window each), each
    with a tension drawn from ``tension`` (:func:`simulate_session`)."""
    midnight = local_midnight_ms(day, offset_min)
    slot_ms = int((last_hour - first_hour) * 3_600_000 / sessions)
    out = []
    for i in range(sessions):
        start = midnight + int(first_hour * 3_600_000) + i * slot_ms + int(rng.integers(0, slot_ms // 4))
        out.append(simulate_session(rng, start, int(rng.integers(30_000, 50_000)), tension))
    return out


def all_events(sessions: Sequence[Session]) -> list[Event]:
    return [event for session in sessions for event in session.events]


def batches(events: Sequence[T], size: int = 100) -> Iterator[Sequence[T]]:
    """``events`` in consecutive batches, as a host would deliver them."""
    for start in range(0, len(events), size):
        yield events[start : start + size]
