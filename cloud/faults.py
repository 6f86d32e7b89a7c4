"""Test-only fault hooks: pause a worker at a named point, so a test can SIGKILL it right there.

``FAULT_PAUSE_AT`` (comma-separated names of :data:`PAUSE_POINTS`) makes a worker stop at those
points of ``apply_offer``: it logs ``fault pause at <point>`` and sleeps for an hour, long enough
for the test that waits for that line to kill the process. ``FAULT_EXIT_AFTER_COMMIT`` is the
API's hook (:class:`cloud.domain.sync.services.SyncService`). Both are refused with
``ENV=production`` (:meth:`cloud.settings.Settings.check`).

When no pause is set nothing here runs: the worker passes no hook to the store and the job skips
the checks, so the hot path costs one ``None`` test.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Final

APPLY_BEFORE_TX: Final = "apply_offer.before_tx"
"""The job has its outbox row's id and has not begun the store transaction."""
APPLY_IN_TX: Final = "apply_offer.in_tx"
"""Inside the store transaction, holding SQLite's write lock: offer and profile written, the
notice and the row's ``done`` not yet."""
APPLY_AFTER_COMMIT: Final = "apply_offer.after_commit"
"""The transaction committed; the follow-up push row is not enqueued and the job has not returned."""
PAUSE_POINTS: Final = frozenset({APPLY_BEFORE_TX, APPLY_IN_TX, APPLY_AFTER_COMMIT})

PAUSE_S: Final = 3600.0
"""How long a pause lasts: far beyond any test, which kills the process first."""
EXIT_AFTER_COMMIT_CODE: Final = 75
"""Exit status of an API process stopped by ``FAULT_EXIT_AFTER_COMMIT``."""

log = logging.getLogger("cloud.faults")


class FaultPauses:
    """The pause points in force in this process."""

    def __init__(self, points: frozenset[str], pause_s: float = PAUSE_S) -> None:
        unknown = points - PAUSE_POINTS
        if unknown:
            raise ValueError(f"unknown fault pause point(s): {', '.join(sorted(unknown))}")
        self.points = points
        self.pause_s = pause_s

    def blocking(self, point: str) -> None:
        """Pause the calling thread at ``point`` if it is set (the store's connection thread)."""
        if point in self.points:
            log.warning("fault pause at %s", point)
            time.sleep(self.pause_s)

    async def pause(self, point: str) -> None:
        """Pause the calling task at ``point`` if it is set; the rest of the process keeps running."""
        if point in self.points:
            log.warning("fault pause at %s", point)
            await asyncio.sleep(self.pause_s)
