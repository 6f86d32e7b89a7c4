"""The raw events a host app hands to :class:`~edge_sdk.capture.recorder.Recorder`.

Four frozen msgspec Structs, tagged (``"type": "key" | "touch" | "motion" | "app"``) so a batch can
also be decoded from JSON or msgpack as ``list[Event]``. Times are integer Unix epoch milliseconds,
as everywhere in the SDK. A key event carries only the *class* of the key, never which key: the SDK
must not be able to reconstruct text.

Constructing a Struct in Python does not check types or ranges (msgspec only checks on decode);
``Recorder.record()`` validates every event itself, so both paths end up equally strict.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

import msgspec

EpochMs = Annotated[int, msgspec.Meta(ge=0, lt=2**53)]
"""Unix epoch milliseconds; below 2**53 so a time survives a float64 round trip exactly."""

KeyClass = Literal["character", "backspace", "space", "enter", "other"]
TouchPhase = Literal["down", "move", "up"]
AppEventKind = Literal["screen_enter", "screen_leave"]

KEY_CLASSES: Final[tuple[KeyClass, ...]] = ("character", "backspace", "space", "enter", "other")
"""Key classes in code order: a window stores ``KEY_CLASSES.index(key_class)`` as int8."""
TOUCH_PHASES: Final[tuple[TouchPhase, ...]] = ("down", "move", "up")
APP_EVENT_KINDS: Final[tuple[AppEventKind, ...]] = ("screen_enter", "screen_leave")

KEY_BACKSPACE: Final = KEY_CLASSES.index("backspace")
PHASE_DOWN: Final = TOUCH_PHASES.index("down")
PHASE_MOVE: Final = TOUCH_PHASES.index("move")
PHASE_UP: Final = TOUCH_PHASES.index("up")
APP_SCREEN_ENTER: Final = APP_EVENT_KINDS.index("screen_enter")

MAX_SCREEN_NAME_LEN: Final = 64
"""A screen is named by a short identifier (``"home"``, ``"loan_offer"``), never by its content."""


class KeyEvent(msgspec.Struct, frozen=True, gc=False, tag="key", tag_field="type"):
    """One key press: when it went down and up, and what class of key it was."""

    down_ms: EpochMs
    up_ms: EpochMs
    """Not earlier than ``down_ms``."""
    key_class: KeyClass


class TouchEvent(msgspec.Struct, frozen=True, gc=False, tag="touch", tag_field="type"):
    """One touch sample of a single pointer."""

    t_ms: EpochMs
    phase: TouchPhase
    pressure: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
    """Normalised pressure in ``[0, 1]`` (platforms without pressure report a constant)."""
    size: Annotated[float, msgspec.Meta(ge=0.0)]
    """Contact size in the platform's unit (Android ``getSize()``, iOS ``majorRadius``)."""
    x: float
    """Position in pixels."""
    y: float


class MotionEvent(msgspec.Struct, frozen=True, gc=False, tag="motion", tag_field="type"):
    """One accelerometer sample, gravity included, in m/s²."""

    t_ms: EpochMs
    ax: float
    ay: float
    az: float


class AppEvent(msgspec.Struct, frozen=True, gc=False, tag="app", tag_field="type"):
    """The host app entered or left one of its screens."""

    t_ms: EpochMs
    kind: AppEventKind
    screen: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_SCREEN_NAME_LEN)]


Event = KeyEvent | TouchEvent | MotionEvent | AppEvent
"""Any event ``record()`` accepts."""
