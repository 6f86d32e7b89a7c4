"""Operator views of the outbox and the job queue, and the retry of a dead-letter row.

The outbox is the source of truth for work (DESIGN §7); the queue only carries it. So the stats
come from the database, the queue depth from Redis, and a retry is a database transaction (the
row back to ``pending`` at a new attempt) followed, after the commit, by the same enqueue the API
does for a new row. A failed enqueue is not an error: the worker's relay picks the row up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final, Protocol

import msgspec

from cloud.clock import now_ms
from cloud.domain.admin.schemas import (
    DeadLetterOut,
    DeadLettersOut,
    OutboxCountOut,
    OutboxRetryOut,
    OutboxStatsOut,
    QueueDepthOut,
)
from cloud.outbox.enqueue import Enqueuer, enqueue_rows
from cloud.request_context import current_request_id
from cloud.store.protocol import Store
from cloud.store.records import DeadLetterRecord

log = logging.getLogger(__name__)

MAX_DEAD_LETTER_PAGE: Final = 500
DEFAULT_DEAD_LETTER_PAGE: Final = 100
_FREE_TEXT: Final = frozenset({"title", "body"})
"""Payload fields with message text: an operator list shows ids and kinds, not what users read."""
_MAX_SUMMARY_CHARS: Final = 128

PayloadSummary = dict[str, str | int | bool | None]


class QueueReader(Enqueuer, Protocol):
    """What the operator view needs of :class:`cloud.queue.Queue`."""

    queue_name: str

    async def depth(self) -> int: ...

    async def worker_health(self) -> str | None: ...


def payload_summary(payload: bytes) -> PayloadSummary:
    """The scalar fields of a JSON payload (texts cut to 128 characters), message texts left out.

    A payload that is not a JSON object (it cannot be done either) is ``{"undecodable": true}``.
    """
    try:
        decoded = msgspec.json.decode(payload)
    except msgspec.DecodeError:
        return {"undecodable": True}
    if not isinstance(decoded, dict):
        return {"undecodable": True}
    out: PayloadSummary = {}
    for key, value in decoded.items():
        if key in _FREE_TEXT:
            continue
        if isinstance(value, str):
            out[key] = value[:_MAX_SUMMARY_CHARS]
        elif value is None or isinstance(value, bool | int):
            out[key] = value
    return out


def dead_letter_out(row: DeadLetterRecord) -> DeadLetterOut:
    return DeadLetterOut(
        outbox_id=row.outbox_id,
        kind=row.kind,
        attempts=row.attempts,
        first_attempt=row.first_attempt,
        last_error=row.last_error,
        payload=payload_summary(row.payload),
        parent_id=row.parent_id,
        created_at=row.created_at,
        dead_at=row.updated_at,
    )


class OutboxOperations:
    """Outbox stats, the dead-letter list and its retry, for the admin API."""

    def __init__(
        self, store: Store, queue: QueueReader | None, queue_name: str, clock: Callable[[], int] = now_ms
    ) -> None:
        self._store = store
        self._queue = queue
        self._queue_name = queue_name
        self._clock = clock

    async def _queue_depth(self) -> QueueDepthOut:
        if self._queue is None:
            return QueueDepthOut(
                name=self._queue_name,
                depth=None,
                reason="no job queue: REDIS_URL unset, or Redis did not answer when the API started",
            )
        try:
            depth = await self._queue.depth()
            health = await self._queue.worker_health()
        except Exception as exc:  # any Redis failure: the database figures are still worth answering
            log.warning("queue depth unavailable: %r", exc)
            reason = f"Redis error: {type(exc).__name__}"
            return QueueDepthOut(name=self._queue_name, depth=None, reason=reason)
        return QueueDepthOut(name=self._queue_name, depth=depth, worker_health=health)

    async def stats(self) -> OutboxStatsOut:
        now = self._clock()
        stats = await self._store.outbox_stats(now=now)
        oldest = stats.oldest_pending_at
        return OutboxStatsOut(
            counts=[OutboxCountOut(kind=c.kind, state=c.state, count=c.count) for c in stats.counts],
            oldest_pending_age_ms=None if oldest is None else max(0, now - oldest),
            deferred_pending=stats.deferred,
            queue=await self._queue_depth(),
        )

    async def dead_letters(self, *, limit: int, after_id: int) -> DeadLettersOut:
        rows = await self._store.dead_letters(limit=limit, after_id=after_id)
        return DeadLettersOut(
            items=[dead_letter_out(r) for r in rows],
            next_after_id=rows[-1].outbox_id if len(rows) == limit else None,
        )

    async def retry(self, outbox_id: int) -> OutboxRetryOut:
        """Raises ``OutboxRowNotFound`` / ``OutboxNotRetryable``; then nothing changed."""
        row = await self._store.retry_dead(outbox_id, now=self._clock())
        log.info(
            "outbox row %d (%s) retried by an operator (request %s) as attempt %d",
            row.outbox_id,
            row.kind,
            current_request_id(),
            row.attempts,
        )
        enqueued = False
        if self._queue is not None:
            try:
                enqueued = await enqueue_rows(self._queue, [row]) == 1
            except Exception as exc:  # Redis away: the row is pending, the relay enqueues it
                log.warning("enqueue of retried outbox row %d failed: %r", row.outbox_id, exc)
        return OutboxRetryOut(
            outbox_id=row.outbox_id, kind=row.kind, state=row.state, attempt=row.attempts, enqueued=enqueued
        )
