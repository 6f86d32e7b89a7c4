"""Validation of one batch of events into plain row tuples, all-or-nothing.

This is the per-event work of ``Recorder.record()``, so it stays in plain Python with no
allocation beyond one tuple per event: a dispatch on the exact type, a few comparisons, an append.
The batch is validated whole before anything is kept, so a refused batch leaves no trace.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from edge_sdk.capture.errors import (
    InvalidEvent,
    InvalidFieldType,
    InvalidScreenName,
    InvalidTimestamp,
    KeyUpBeforeDown,
    NonFiniteValue,
    NonMonotonicTime,
    UnknownCategory,
    UnsupportedEvent,
    ValueOutOfRange,
)
from edge_sdk.capture.events import (
    APP_EVENT_KINDS,
    KEY_CLASSES,
    MAX_SCREEN_NAME_LEN,
    TOUCH_PHASES,
    AppEvent,
    Event,
    KeyEvent,
    MotionEvent,
    TouchEvent,
)

KeyRow = tuple[int, int, int]
"""(down_ms, up_ms, key class code)"""
TouchRow = tuple[int, int, float, float, float, float]
"""(t_ms, phase code, pressure, size, x, y)"""
MotionRow = tuple[int, float, float, float]
"""(t_ms, ax, ay, az)"""
AppRow = tuple[int, int, str]
"""(t_ms, kind code, screen)"""

NO_TIME: Final = -1
"""Last accepted time of a kind that has accepted nothing yet (every valid time is >= 0)."""

_MAX_MS: Final = 2**53
_KEY_CODES: Final = {name: code for code, name in enumerate(KEY_CLASSES)}
_PHASE_CODES: Final = {name: code for code, name in enumerate(TOUCH_PHASES)}
_APP_CODES: Final = {name: code for code, name in enumerate(APP_EVENT_KINDS)}


@dataclass(slots=True)
class Rows:
    """The rows of one validated batch, per kind, and each kind's last time after it."""

    keys: list[KeyRow] = field(default_factory=list)
    touches: list[TouchRow] = field(default_factory=list)
    motion: list[MotionRow] = field(default_factory=list)
    apps: list[AppRow] = field(default_factory=list)
    last_key_ms: int = NO_TIME
    last_touch_ms: int = NO_TIME
    last_motion_ms: int = NO_TIME
    last_app_ms: int = NO_TIME


def _time(index: int, name: str, t: object, previous: int) -> int:
    # `type(...) is int` rather than isinstance: a bool is not a time, nor is a float.
    if type(t) is not int or not 0 <= t < _MAX_MS:
        raise InvalidTimestamp(index, name, f"must be an integer epoch millisecond in [0, 2**53), got {t!r}")
    if t < previous:
        raise NonMonotonicTime(index, name, f"{t} is before the previous event of this kind ({previous})")
    return t


def _finite(index: int, name: str, value: float) -> float:
    if not math.isfinite(value):
        raise NonFiniteValue(index, name, f"must be finite, got {value!r}")
    return value


def validate_batch(
    batch: Sequence[Event],
    *,
    last_key_ms: int = NO_TIME,
    last_touch_ms: int = NO_TIME,
    last_motion_ms: int = NO_TIME,
    last_app_ms: int = NO_TIME,
) -> Rows:
    """Check every event of ``batch`` and return its rows; raise on the first invalid event.

    ``last_*_ms`` are the times of the last event already accepted per kind: time must not go
    backwards within a kind (across kinds it may, hosts deliver each sensor separately). A key
    event's time is its ``down_ms``. Equal times are allowed.

    Raises a subclass of :class:`~edge_sdk.capture.errors.InvalidEvent` naming the index.
    """
    rows = Rows(
        last_key_ms=last_key_ms,
        last_touch_ms=last_touch_ms,
        last_motion_ms=last_motion_ms,
        last_app_ms=last_app_ms,
    )
    index = 0
    name = "event"
    try:
        for index, event in enumerate(batch):
            name = "event"
            if isinstance(event, MotionEvent):  # the most frequent kind first
                name = "t_ms"
                t = _time(index, name, event.t_ms, rows.last_motion_ms)
                name = "ax"
                ax = _finite(index, name, event.ax)
                name = "ay"
                ay = _finite(index, name, event.ay)
                name = "az"
                az = _finite(index, name, event.az)
                rows.motion.append((t, ax, ay, az))
                rows.last_motion_ms = t
            elif isinstance(event, TouchEvent):
                name = "t_ms"
                t = _time(index, name, event.t_ms, rows.last_touch_ms)
                name = "phase"
                phase = _PHASE_CODES.get(event.phase)
                if phase is None:
                    raise UnknownCategory(index, name, f"not one of {TOUCH_PHASES}: {event.phase!r}")
                name = "pressure"
                pressure = _finite(index, name, event.pressure)
                if not 0.0 <= pressure <= 1.0:
                    raise ValueOutOfRange(index, name, f"must be in [0, 1], got {pressure!r}")
                name = "size"
                size = _finite(index, name, event.size)
                if size < 0.0:
                    raise ValueOutOfRange(index, name, f"must be >= 0, got {size!r}")
                name = "x"
                x = _finite(index, name, event.x)
                name = "y"
                y = _finite(index, name, event.y)
                rows.touches.append((t, phase, pressure, size, x, y))
                rows.last_touch_ms = t
            elif isinstance(event, KeyEvent):
                name = "down_ms"
                down = _time(index, name, event.down_ms, rows.last_key_ms)
                name = "up_ms"
                up = _time(index, name, event.up_ms, 0)
                if up < down:
                    raise KeyUpBeforeDown(index, name, f"{up} is earlier than down_ms {down}")
                name = "key_class"
                code = _KEY_CODES.get(event.key_class)
                if code is None:
                    raise UnknownCategory(index, name, f"not one of {KEY_CLASSES}: {event.key_class!r}")
                rows.keys.append((down, up, code))
                rows.last_key_ms = down
            elif isinstance(event, AppEvent):
                name = "t_ms"
                t = _time(index, name, event.t_ms, rows.last_app_ms)
                name = "kind"
                app_kind = _APP_CODES.get(event.kind)
                if app_kind is None:
                    raise UnknownCategory(index, name, f"not one of {APP_EVENT_KINDS}: {event.kind!r}")
                name = "screen"
                screen = event.screen
                if type(screen) is not str:
                    raise InvalidFieldType(index, name, f"must be a str, got {type(screen).__name__}")
                if not 0 < len(screen) <= MAX_SCREEN_NAME_LEN:
                    raise InvalidScreenName(
                        index, name, f"must be 1 to {MAX_SCREEN_NAME_LEN} characters, got {len(screen)}"
                    )
                rows.apps.append((t, app_kind, screen))
                rows.last_app_ms = t
            else:
                raise UnsupportedEvent(index, name, f"not an event type: {type(event).__name__}")
    except InvalidEvent:
        raise
    except TypeError as exc:
        # A non-number where a number belongs (math.isfinite, a comparison) or an unhashable
        # category: reported as the field being validated when it happened.
        raise InvalidFieldType(index, name, str(exc)) from exc
    return rows
