"""Announcing a change the dashboard shows, without flooding the channel.

An API process announces after a sync that changed something; at most one announcement leaves a
process every ``MIN_INTERVAL_S`` (the dashboard coalesces to one snapshot a second anyway, and its
streams refresh every few seconds, so a skipped announcement delays a figure, never loses it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

MIN_INTERVAL_S: Final = 0.5


class Announcer:
    """Calls ``publish`` (which must not block) at most once per ``min_interval_s``."""

    def __init__(
        self,
        publish: Callable[[], None],
        min_interval_s: float = MIN_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._publish = publish
        self._min_interval_s = min_interval_s
        self._clock = clock
        self._last = float("-inf")

    def __call__(self) -> None:
        now = self._clock()
        if now - self._last < self._min_interval_s:
            return
        self._last = now
        try:
            self._publish()
        except Exception:  # a dashboard announcement must never fail a sync
            return
