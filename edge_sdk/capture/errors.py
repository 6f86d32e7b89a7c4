"""Why ``Recorder.record()`` refused a batch: one named exception per kind of invalid event.

All derive from :class:`InvalidEvent` (an :class:`~edge_sdk.errors.EdgeError` and a ``ValueError``).
A batch holding any invalid event is refused whole, so each error names the index of the first
offending event in that batch and the field at fault; nothing from the batch was recorded.
"""

from __future__ import annotations

from edge_sdk.errors import EdgeError


class InvalidEvent(EdgeError, ValueError):
    """An event of a batch failed validation; no event of that batch was recorded."""

    def __init__(self, index: int, field: str, detail: str) -> None:
        super().__init__(f"event {index} of the batch: {field}: {detail}")
        self.index = index
        """Position of the offending event in the batch passed to ``record()``."""
        self.field = field
        """Name of the offending field (``"event"`` when the object itself is not an event)."""
        self.detail = detail


class UnsupportedEvent(InvalidEvent):
    """The object is not one of the event types (KeyEvent, TouchEvent, MotionEvent, AppEvent)."""


class InvalidFieldType(InvalidEvent):
    """A field holds a value of the wrong type (a string where a number belongs, say)."""


class InvalidTimestamp(InvalidEvent):
    """A time is not an integer epoch millisecond in ``0 <= t < 2**53``."""


class NonMonotonicTime(InvalidEvent):
    """The event's time is earlier than the previous accepted event of the same kind."""


class KeyUpBeforeDown(InvalidEvent):
    """A key event's ``up_ms`` is earlier than its ``down_ms``."""


class NonFiniteValue(InvalidEvent):
    """A numeric field is NaN or infinite."""


class ValueOutOfRange(InvalidEvent):
    """A numeric field is outside its range (pressure outside ``[0, 1]``, negative contact size)."""


class UnknownCategory(InvalidEvent):
    """A categorical field (key class, touch phase, app event kind) holds a value not in its set."""


class InvalidScreenName(InvalidEvent):
    """An app event's screen name is empty or longer than the limit for a short name."""
