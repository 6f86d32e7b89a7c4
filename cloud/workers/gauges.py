"""The metric gauges only a query can set (:mod:`cloud.metrics`), refreshed by every worker.

Each worker sets them every ``METRICS_INTERVAL_S`` from the store and the queue, so a scrape of
``/metrics`` costs no query however often it comes; in multiprocess mode the most recent value
any worker wrote is served.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

from cloud.clock import now_ms
from cloud.metrics import DEVICES_SEEN, GAUGES_AT, OFFERS, OUTBOX_OLDEST_DUE_AGE, OUTBOX_ROWS, QUEUE_DEPTH
from cloud.outbox.kinds import OutboxKind
from cloud.store import Store
from cloud.store.records import OutboxState
from sync.messages import OfferStatus

log = logging.getLogger("cloud.workers.gauges")


class DepthReader(Protocol):
    async def depth(self) -> int: ...


async def refresh_gauges(store: Store, queue: DepthReader | None, now: int) -> None:
    """Set every gauge; a pair (kind, state) or a status with no rows is set to 0, not left stale."""
    counts = await store.fleet_counts(now)
    DEVICES_SEEN.labels("1h").set(counts.devices_seen_1h)
    DEVICES_SEEN.labels("24h").set(counts.devices_seen_24h)
    for status in OfferStatus:
        OFFERS.labels(status.value).set(counts.offers_by_status.get(status.value, 0))
    stats = await store.outbox_stats(now=now)
    rows = {(c.kind, c.state): c.count for c in stats.counts}
    for kind in OutboxKind:
        for state in OutboxState:
            OUTBOX_ROWS.labels(kind.value, state.value).set(rows.get((kind.value, state.value), 0))
    oldest = stats.oldest_pending_at
    OUTBOX_OLDEST_DUE_AGE.set(0 if oldest is None else max(0, now - oldest) / 1000)
    if queue is not None:
        QUEUE_DEPTH.set(await queue.depth())
    GAUGES_AT.set(time.time())


async def gauges_forever(store: Store, queue: DepthReader | None, interval_s: float) -> None:
    """Run :func:`refresh_gauges` every ``interval_s`` until cancelled; a failed pass is logged."""
    while True:
        try:
            await refresh_gauges(store, queue, now_ms())
        except Exception as exc:  # the database or Redis is briefly unavailable: try next interval
            log.warning("gauge refresh failed: %r", exc)
        await asyncio.sleep(interval_s)
