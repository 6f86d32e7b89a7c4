"""Turning outbox rows into queued jobs: the job id, the job payload, and the API's fast path.

A row is enqueued as the job named by its ``kind`` with the payload :class:`OutboxJob`, under the
job id ``{outbox_id}:{attempt}``: a second enqueue of the same attempt is a no-op in arq, while
the relay's next attempt (a new number) is not. The API enqueues right after its transaction
commits; if that fails (Redis down, the process dies first) the relay in the worker process
enqueues the row later, so a failed enqueue is logged and never fails the request.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

import msgspec

from cloud.store.records import OutboxRecord

log = logging.getLogger(__name__)


class OutboxJob(msgspec.Struct, frozen=True):
    """The payload of every outbox job: which row, and which attempt of it."""

    outbox_id: int
    attempt: int


def outbox_job_id(outbox_id: int, attempt: int) -> str:
    """The arq ``_job_id`` of one attempt of one outbox row."""
    return f"{outbox_id}:{attempt}"


class Enqueuer(Protocol):
    """The part of :class:`cloud.queue.Queue` the dispatcher uses."""

    async def enqueue(self, function_name: str, payload: object, job_id: str | None = None) -> str | None: ...


async def enqueue_rows(queue: Enqueuer, rows: Sequence[OutboxRecord]) -> int:
    """Enqueue each row's current attempt; returns how many were newly queued.

    Raises what the queue raises (the relay lets its pass fail and tries again).
    """
    queued = 0
    for row in rows:
        job = OutboxJob(outbox_id=row.outbox_id, attempt=row.attempts)
        if await queue.enqueue(row.kind, job, job_id=outbox_job_id(row.outbox_id, row.attempts)) is not None:
            queued += 1
    return queued


class OutboxDispatcher:
    """The API's fast path: enqueue the rows a request's transaction added, after the commit."""

    def __init__(self, queue: Enqueuer | None) -> None:
        self._queue = queue

    async def dispatch(self, rows: Sequence[OutboxRecord]) -> None:
        """Enqueue ``rows``; a failure is logged, never raised (the relay is the safety net)."""
        if not rows:
            return
        if self._queue is None:
            log.warning("no job queue: %d outbox row(s) left to the relay", len(rows))
            return
        try:
            await enqueue_rows(self._queue, rows)
        except Exception as exc:  # any Redis or connection failure: the rows stay pending for the relay
            log.warning("enqueue failed (%r): %d outbox row(s) left to the relay", exc, len(rows))
