"""An activity window: the raw events of one stretch of activity, as numpy arrays per kind.

Windows live in memory only. They are what :mod:`edge_sdk.features` turns into a feature vector,
and they are discarded once that is done; nothing here is ever persisted or sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge_sdk.capture.events import Event
from edge_sdk.capture.validate import AppRow, KeyRow, MotionRow, TouchRow, validate_batch

Int64Array = npt.NDArray[np.int64]
Int8Array = npt.NDArray[np.int8]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class KeyArrays:
    """Key events in ``down_ms`` order; ``key_class`` holds codes into ``events.KEY_CLASSES``."""

    down_ms: Int64Array
    up_ms: Int64Array
    key_class: Int8Array

    def __len__(self) -> int:
        return len(self.down_ms)


@dataclass(frozen=True, slots=True)
class TouchArrays:
    """Touch samples in time order; ``phase`` holds codes into ``events.TOUCH_PHASES``."""

    t_ms: Int64Array
    phase: Int8Array
    pressure: FloatArray
    size: FloatArray
    x: FloatArray
    y: FloatArray

    def __len__(self) -> int:
        return len(self.t_ms)


@dataclass(frozen=True, slots=True)
class MotionArrays:
    """Accelerometer samples in time order, m/s²."""

    t_ms: Int64Array
    ax: FloatArray
    ay: FloatArray
    az: FloatArray

    def __len__(self) -> int:
        return len(self.t_ms)


@dataclass(frozen=True, slots=True)
class AppArrays:
    """App events in time order; ``kind`` holds codes into ``events.APP_EVENT_KINDS``."""

    t_ms: Int64Array
    kind: Int8Array
    screen: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.t_ms)


@dataclass(frozen=True, slots=True)
class ActivityWindow:
    """The events of one activity window.

    ``start_ms`` and ``end_ms`` are the times of its first and last event (a key event's time is
    its ``down_ms``), so ``end_ms - start_ms`` is the span of activity it covers.
    """

    start_ms: int
    end_ms: int
    keys: KeyArrays
    touches: TouchArrays
    motion: MotionArrays
    apps: AppArrays

    @property
    def span_ms(self) -> int:
        """Time from the first to the last event."""
        return self.end_ms - self.start_ms

    @property
    def n_events(self) -> int:
        return len(self.keys) + len(self.touches) + len(self.motion) + len(self.apps)


def key_arrays(rows: Sequence[KeyRow]) -> KeyArrays:
    """Columns of key rows (``validate.KeyRow``)."""
    table = np.array(rows, dtype=np.int64).reshape(len(rows), 3)
    return KeyArrays(
        down_ms=np.ascontiguousarray(table[:, 0]),
        up_ms=np.ascontiguousarray(table[:, 1]),
        key_class=table[:, 2].astype(np.int8),
    )


def touch_arrays(rows: Sequence[TouchRow]) -> TouchArrays:
    """Columns of touch rows; times go through float64 exactly since they are below 2**53."""
    table = np.array(rows, dtype=np.float64).reshape(len(rows), 6)
    return TouchArrays(
        t_ms=table[:, 0].astype(np.int64),
        phase=table[:, 1].astype(np.int8),
        pressure=np.ascontiguousarray(table[:, 2]),
        size=np.ascontiguousarray(table[:, 3]),
        x=np.ascontiguousarray(table[:, 4]),
        y=np.ascontiguousarray(table[:, 5]),
    )


def motion_arrays(rows: Sequence[MotionRow]) -> MotionArrays:
    """Columns of motion rows."""
    table = np.array(rows, dtype=np.float64).reshape(len(rows), 4)
    return MotionArrays(
        t_ms=table[:, 0].astype(np.int64),
        ax=np.ascontiguousarray(table[:, 1]),
        ay=np.ascontiguousarray(table[:, 2]),
        az=np.ascontiguousarray(table[:, 3]),
    )


def app_arrays(rows: Sequence[AppRow]) -> AppArrays:
    """Columns of app rows."""
    return AppArrays(
        t_ms=np.array([row[0] for row in rows], dtype=np.int64),
        kind=np.array([row[1] for row in rows], dtype=np.int8),
        screen=tuple(row[2] for row in rows),
    )


def assemble(keys: KeyArrays, touches: TouchArrays, motion: MotionArrays, apps: AppArrays) -> ActivityWindow:
    """A window from its columns; its bounds are the first and last event time over all kinds.

    Raises ``ValueError`` if every kind is empty (a window has at least one event).
    """
    firsts = [int(a[0]) for a in (keys.down_ms, touches.t_ms, motion.t_ms, apps.t_ms) if len(a)]
    lasts = [int(a[-1]) for a in (keys.down_ms, touches.t_ms, motion.t_ms, apps.t_ms) if len(a)]
    if not firsts:
        raise ValueError("an activity window holds at least one event")
    return ActivityWindow(min(firsts), max(lasts), keys, touches, motion, apps)


def window_from_events(events: Iterable[Event]) -> ActivityWindow:
    """One window holding exactly ``events`` (validated as one ``record()`` batch would be).

    For fixtures, simulators and offline feature extraction; live capture cuts windows with
    :class:`~edge_sdk.capture.recorder.Recorder`. Raises an ``InvalidEvent`` subclass on a bad
    event, ``ValueError`` on an empty input.
    """
    rows = validate_batch(list(events))
    return assemble(
        key_arrays(rows.keys), touch_arrays(rows.touches), motion_arrays(rows.motion), app_arrays(rows.apps)
    )
