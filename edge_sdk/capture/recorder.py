"""The in-memory recorder: validates batches of events, buffers them, cuts activity windows.

``record()`` is on the host app's input path, so it does the least work that still refuses bad
data: validate each event (:mod:`edge_sdk.capture.validate`) and append one tuple per event to a
per-kind list. It never touches disk. Turning buffers into numpy arrays and cutting windows happens
in ``drain_windows()``, which the pipeline calls at its own pace.

Windows. All kinds share one timeline (a key event's time is its ``down_ms``). A window starts at
the first buffered event and takes every later event until either its span is reached
(``t >= start + window_span_ms``) or activity stops (a gap longer than ``idle_gap_ms`` between
consecutive events); the next event starts the next window. The last window is closed by the clock
passed to ``drain_windows(now_ms)``: when ``now_ms >= start + window_span_ms`` or
``now_ms - last event > idle_gap_ms``.

Kinds are delivered separately, so an event of one kind may arrive after a window it belongs to
was closed on another kind's events. Such a *late* event (time before the end of the last closed
window) is dropped at the next drain and counted in ``late``; hosts that deliver every kind within a
few seconds and drain less often than that lose none.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Final

import numpy as np

from edge_sdk.capture.events import Event
from edge_sdk.capture.validate import NO_TIME, AppRow, KeyRow, MotionRow, TouchRow, validate_batch
from edge_sdk.capture.window import (
    ActivityWindow,
    AppArrays,
    KeyArrays,
    MotionArrays,
    TouchArrays,
    app_arrays,
    assemble,
    key_arrays,
    motion_arrays,
    touch_arrays,
)
from edge_sdk.errors import InvalidSettings

DEFAULT_WINDOW_SPAN_MS: Final = 60_000
"""A window covers at most 60 s of activity."""
DEFAULT_IDLE_GAP_MS: Final = 30_000
"""A pause longer than 30 s ends the window."""
DEFAULT_MAX_BUFFERED_EVENTS: Final = 200_000
"""About half an hour of 100 Hz motion plus touch; bounds memory if nobody drains."""


class Recorder:
    """Validated, consent-gated, in-memory capture of events, cut into activity windows.

    ``enabled`` is the consent gate (the privacy layer passes whether the ``inference`` scope is
    granted); it is asked once per ``record()`` and once per ``drain_windows()``. While it answers
    ``False`` events are dropped unvalidated and counted in ``dropped``, and a drain discards what is
    buffered, since raw events captured under a consent now withdrawn must not be processed.

    Thread-safe: ``record()`` and ``drain_windows()`` may be called from different threads.
    """

    def __init__(
        self,
        *,
        enabled: Callable[[], bool],
        window_span_ms: int = DEFAULT_WINDOW_SPAN_MS,
        idle_gap_ms: int = DEFAULT_IDLE_GAP_MS,
        max_buffered_events: int = DEFAULT_MAX_BUFFERED_EVENTS,
    ) -> None:
        """Raises :class:`~edge_sdk.errors.InvalidSettings` for a non-positive span, gap or limit."""
        for name, value in (
            ("window_span_ms", window_span_ms),
            ("idle_gap_ms", idle_gap_ms),
            ("max_buffered_events", max_buffered_events),
        ):
            if type(value) is not int or value <= 0:
                raise InvalidSettings(f"{name} must be a positive integer, got {value!r}")
        self._enabled = enabled
        self._span = window_span_ms
        self._idle = idle_gap_ms
        self._max_buffered = max_buffered_events
        self._lock = threading.Lock()
        self._keys: list[KeyRow] = []
        self._touches: list[TouchRow] = []
        self._motion: list[MotionRow] = []
        self._apps: list[AppRow] = []
        self._buffered = 0
        self._last_key_ms = NO_TIME
        self._last_touch_ms = NO_TIME
        self._last_motion_ms = NO_TIME
        self._last_app_ms = NO_TIME
        self._closed_until_ms = NO_TIME
        self._dropped = 0
        self._late = 0
        self._overflowed = 0

    @property
    def window_span_ms(self) -> int:
        return self._span

    @property
    def idle_gap_ms(self) -> int:
        return self._idle

    @property
    def dropped(self) -> int:
        """Events dropped because capture was disabled (no ``inference`` consent)."""
        return self._dropped

    @property
    def late(self) -> int:
        """Events dropped because they arrived after the window they belonged to was closed."""
        return self._late

    @property
    def overflowed(self) -> int:
        """Events dropped because the buffer held ``max_buffered_events`` (nobody drained)."""
        return self._overflowed

    @property
    def buffered(self) -> int:
        """Events held in memory, not yet drained into a window."""
        return self._buffered

    def record(self, batch: Sequence[Event]) -> int:
        """Validate ``batch`` and buffer it in memory; return how many events were kept.

        All or nothing: if any event is invalid, the batch is refused whole and an
        :class:`~edge_sdk.capture.errors.InvalidEvent` subclass names the index of the first bad
        one. Time must not go backwards within a kind, including against earlier batches.
        Returns 0 without validating when capture is disabled (counted in ``dropped``) and 0 when
        the batch would overflow the buffer (counted in ``overflowed``).
        """
        if not self._enabled():
            with self._lock:
                self._dropped += len(batch)
            return 0
        with self._lock:
            rows = validate_batch(
                batch,
                last_key_ms=self._last_key_ms,
                last_touch_ms=self._last_touch_ms,
                last_motion_ms=self._last_motion_ms,
                last_app_ms=self._last_app_ms,
            )
            kept = len(rows.keys) + len(rows.touches) + len(rows.motion) + len(rows.apps)
            if self._buffered + kept > self._max_buffered:
                self._overflowed += kept
                return 0
            self._keys.extend(rows.keys)
            self._touches.extend(rows.touches)
            self._motion.extend(rows.motion)
            self._apps.extend(rows.apps)
            self._buffered += kept
            self._last_key_ms = rows.last_key_ms
            self._last_touch_ms = rows.last_touch_ms
            self._last_motion_ms = rows.last_motion_ms
            self._last_app_ms = rows.last_app_ms
            return kept

    def clear(self) -> int:
        """Discard every buffered event (consent withdrawn, app going away); return how many."""
        with self._lock:
            return self._discard()

    def drain_windows(self, now_ms: int) -> list[ActivityWindow]:
        """Cut the buffered events into windows and return those that are closed, oldest first.

        ``now_ms`` is the device clock (epoch ms) and only decides whether the last window is
        closed yet. Events of returned windows leave the recorder; events of the open window stay.
        Returns ``[]`` and discards the buffer (counted in ``dropped``) when capture is disabled.
        """
        if not self._enabled():
            with self._lock:
                self._dropped += self._discard()
            return []
        with self._lock:
            return self._cut(now_ms)

    def _discard(self) -> int:
        discarded = self._buffered
        self._keys, self._touches, self._motion, self._apps = [], [], [], []
        self._buffered = 0
        return discarded

    def _cut(self, now_ms: int) -> list[ActivityWindow]:
        if self._buffered == 0:
            return []
        keys = key_arrays(self._keys)
        touches = touch_arrays(self._touches)
        motion = motion_arrays(self._motion)
        apps = app_arrays(self._apps)
        kind_times = (keys.down_ms, touches.t_ms, motion.t_ms, apps.t_ms)
        # Late events are a prefix of each kind (times are monotonic within a kind).
        starts = [int(np.searchsorted(t, self._closed_until_ms, side="left")) for t in kind_times]
        late = sum(starts)
        fresh = [t[s:] for t, s in zip(kind_times, starts, strict=True)]
        times = np.sort(np.concatenate(fresh), kind="stable")
        n = len(times)
        windows: list[ActivityWindow] = []
        if n:
            # Indices i where the gap before event i+1 exceeds the idle gap: a window ends at i.
            gap_ends = np.flatnonzero(np.diff(times) > self._idle)
            first = 0
            while first < n:
                start = int(times[first])
                span_end = int(np.searchsorted(times, start + self._span, side="left"))
                k = int(np.searchsorted(gap_ends, first, side="left"))
                gap_end = int(gap_ends[k]) + 1 if k < len(gap_ends) else n
                end = min(span_end, gap_end)
                if end < n:
                    upper = int(times[end])
                else:
                    last = int(times[-1])
                    if now_ms < start + self._span and now_ms - last <= self._idle:
                        break  # the last window is still open
                    upper = last + 1
                bounds = [
                    (int(np.searchsorted(t, start, side="left")), int(np.searchsorted(t, upper, side="left")))
                    for t in kind_times
                ]
                windows.append(_window(keys, touches, motion, apps, bounds))
                self._closed_until_ms = upper
                first = end
        consumed = [int(np.searchsorted(t, self._closed_until_ms, side="left")) for t in kind_times]
        self._keys = self._keys[consumed[0] :]
        self._touches = self._touches[consumed[1] :]
        self._motion = self._motion[consumed[2] :]
        self._apps = self._apps[consumed[3] :]
        self._buffered -= sum(consumed)
        self._late += late
        return windows


def _window(
    keys: KeyArrays,
    touches: TouchArrays,
    motion: MotionArrays,
    apps: AppArrays,
    bounds: list[tuple[int, int]],
) -> ActivityWindow:
    (k0, k1), (t0, t1), (m0, m1), (a0, a1) = bounds
    return assemble(
        KeyArrays(keys.down_ms[k0:k1], keys.up_ms[k0:k1], keys.key_class[k0:k1]),
        TouchArrays(
            touches.t_ms[t0:t1],
            touches.phase[t0:t1],
            touches.pressure[t0:t1],
            touches.size[t0:t1],
            touches.x[t0:t1],
            touches.y[t0:t1],
        ),
        MotionArrays(motion.t_ms[m0:m1], motion.ax[m0:m1], motion.ay[m0:m1], motion.az[m0:m1]),
        AppArrays(apps.t_ms[a0:a1], apps.kind[a0:a1], apps.screen[a0:a1]),
    )
