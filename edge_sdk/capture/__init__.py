"""Capture: typed, validated events, recorded in memory and cut into activity windows.

The host app calls :meth:`Recorder.record` with batches of :data:`Event`; the pipeline calls
:meth:`Recorder.drain_windows` and hands each :class:`ActivityWindow` to
:func:`edge_sdk.features.extract`. Raw events are never written to disk or sent.
"""

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
    AppEventKind,
    Event,
    KeyClass,
    KeyEvent,
    MotionEvent,
    TouchEvent,
    TouchPhase,
)
from edge_sdk.capture.recorder import (
    DEFAULT_IDLE_GAP_MS,
    DEFAULT_MAX_BUFFERED_EVENTS,
    DEFAULT_WINDOW_SPAN_MS,
    Recorder,
)
from edge_sdk.capture.window import (
    ActivityWindow,
    AppArrays,
    KeyArrays,
    MotionArrays,
    TouchArrays,
    window_from_events,
)

__all__ = [
    "APP_EVENT_KINDS",
    "DEFAULT_IDLE_GAP_MS",
    "DEFAULT_MAX_BUFFERED_EVENTS",
    "DEFAULT_WINDOW_SPAN_MS",
    "KEY_CLASSES",
    "MAX_SCREEN_NAME_LEN",
    "TOUCH_PHASES",
    "ActivityWindow",
    "AppArrays",
    "AppEvent",
    "AppEventKind",
    "Event",
    "InvalidEvent",
    "InvalidFieldType",
    "InvalidScreenName",
    "InvalidTimestamp",
    "KeyArrays",
    "KeyClass",
    "KeyEvent",
    "KeyUpBeforeDown",
    "MotionArrays",
    "MotionEvent",
    "NonFiniteValue",
    "NonMonotonicTime",
    "Recorder",
    "TouchArrays",
    "TouchEvent",
    "TouchPhase",
    "UnknownCategory",
    "UnsupportedEvent",
    "ValueOutOfRange",
    "window_from_events",
]
