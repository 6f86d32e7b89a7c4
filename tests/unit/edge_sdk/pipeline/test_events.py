"""record(): bad events raise their named error and nothing of the batch is kept; mappings decode
into the capture Structs; pipeline settings are validated."""

from __future__ import annotations

import math
from typing import Any

import msgspec
import pytest

from ecs.fleet.activity import Session
from edge_sdk.capture import (
    InvalidFieldType,
    KeyEvent,
    KeyUpBeforeDown,
    MotionEvent,
    NonFiniteValue,
    NonMonotonicTime,
    TouchEvent,
    UnknownCategory,
    UnsupportedEvent,
    ValueOutOfRange,
)
from edge_sdk.client import EdgeClient
from edge_sdk.errors import InvalidSettings
from edge_sdk.pipeline import InvalidEventBatch, as_events
from edge_sdk.settings import PipelineSettings

T0 = 1_709_971_200_000

GOOD: list[Any] = [
    MotionEvent(t_ms=T0, ax=0.1, ay=9.7, az=0.3),
    KeyEvent(down_ms=T0 + 5, up_ms=T0 + 90, key_class="character"),
    {"type": "touch", "t_ms": T0 + 7, "phase": "down", "pressure": 0.4, "size": 0.3, "x": 10.0, "y": 20.0},
]
"""A valid prefix: every bad batch below is this plus one bad event at index 3."""


@pytest.mark.parametrize(
    ("bad", "error", "field"),
    [
        (MotionEvent(t_ms=T0 + 9, ax=math.nan, ay=9.7, az=0.3), NonFiniteValue, "ax"),
        ({"type": "motion", "t_ms": T0 + 9, "ax": 0.0, "ay": math.inf, "az": 0.0}, NonFiniteValue, "ay"),
        (
            TouchEvent(t_ms=T0 + 9, phase="move", pressure=1.5, size=0.3, x=1.0, y=2.0),
            ValueOutOfRange,
            "pressure",
        ),
        (
            {
                "type": "touch",
                "t_ms": T0 + 9,
                "phase": "up",
                "pressure": -0.1,
                "size": 0.3,
                "x": 1.0,
                "y": 2.0,
            },
            ValueOutOfRange,
            "pressure",
        ),
        (MotionEvent(t_ms=T0 - 1, ax=0.0, ay=0.0, az=0.0), NonMonotonicTime, "t_ms"),
        (KeyEvent(down_ms=T0 + 9, up_ms=T0 + 8, key_class="space"), KeyUpBeforeDown, "up_ms"),
        (
            {"type": "key", "down_ms": T0 + 9, "up_ms": T0 + 50, "key_class": "letter_a"},
            UnknownCategory,
            "key_class",
        ),
        (
            {"type": "key", "down_ms": "soon", "up_ms": T0 + 50, "key_class": "space"},
            InvalidFieldType,
            "down_ms",
        ),
        ({"type": "key", "down_ms": T0 + 9, "key_class": "space"}, InvalidFieldType, "up_ms"),
        # A bridge must never pass which key was pressed: an unknown field is refused, not ignored.
        (
            {"type": "key", "down_ms": T0 + 9, "up_ms": T0 + 50, "key_class": "character", "key": "a"},
            InvalidFieldType,
            "key",
        ),
        ({"type": "scroll", "t_ms": T0 + 9}, UnsupportedEvent, "type"),
        ({"t_ms": T0 + 9}, UnsupportedEvent, "type"),
        ("motion", UnsupportedEvent, "event"),
    ],
)
def test_a_bad_event_refuses_the_whole_batch(
    consenting: EdgeClient, bad: Any, error: type[Exception], field: str
) -> None:
    with pytest.raises(error) as raised:
        consenting.record([*GOOD, bad])

    assert (raised.value.index, raised.value.field) == (3, field)  # type: ignore[attr-defined]
    assert consenting.capture_status().buffered_events == 0
    # The valid events alone are accepted afterwards: the refused batch left no trace.
    assert consenting.record(GOOD) == 3


@pytest.mark.parametrize("batch", ["key events", b"\x90", {"type": "key"}, 42, None])
def test_a_batch_that_is_not_a_list_is_refused(consenting: EdgeClient, batch: Any) -> None:
    with pytest.raises(InvalidEventBatch):
        consenting.record(batch)
    assert consenting.capture_status().buffered_events == 0


def test_a_batch_that_is_not_a_list_is_refused_without_consent_too(make_client: Any) -> None:
    client: EdgeClient = make_client()
    with pytest.raises(InvalidEventBatch):
        client.record("events")  # type: ignore[arg-type]
    assert client.capture_status().dropped_events == 0


def test_mappings_decode_into_the_capture_structs(day: list[Session]) -> None:
    events = [e for session in day[:2] for e in session.events]
    decoded = as_events(msgspec.to_builtins(events))
    assert list(decoded) == events
    # Structs pass through untouched (no copy on the hot path).
    assert as_events(events) is events


@pytest.mark.parametrize(
    "overrides",
    [
        {"window_span_ms": 0},
        {"idle_gap_ms": -1},
        {"max_buffered_events": 1.5},
        {"max_pending_windows": 0},
        {"model_variant": "fp16"},
    ],
)
def test_pipeline_settings_are_validated(overrides: dict[str, Any]) -> None:
    with pytest.raises(InvalidSettings):
        PipelineSettings(**overrides)
