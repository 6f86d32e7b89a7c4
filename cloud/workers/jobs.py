"""The outbox's jobs and its relay, run by the worker process.

``apply_offer`` is idempotent through its outbox row (:meth:`cloud.store.Store.apply_offer`): a
duplicate enqueue, or the relay's next attempt racing a slow one, finds the row done and does
nothing. The relay is the safety net for every enqueue that did not happen or whose job was lost
(the API died after its commit, Redis lost its data, a job failed): it re-enqueues pending rows
left alone for ``OUTBOX_RELAY_TIMEOUT_S`` as their next attempt, and after
``OUTBOX_MAX_ATTEMPTS`` attempts moves them to dead-letter (the store fails the offer and tells
the user). Several workers may relay at once: each pass is one write transaction, so a row's next
attempt is taken by one of them only.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import msgspec

from cloud.clock import now_ms
from cloud.domain.credit.notices import NoticeClass, notice_class
from cloud.domain.credit.services import EvaluationService
from cloud.faults import APPLY_AFTER_COMMIT, APPLY_BEFORE_TX, FaultPauses
from cloud.metrics import GUARDRAIL, JOB_DURATION, JOBS, PUSHES
from cloud.outbox.enqueue import Enqueuer, OutboxJob, enqueue_rows, outbox_job_id
from cloud.outbox.kinds import APPLY_OFFER, EVALUATE_CREDIT, SEND_PUSH
from cloud.push.messages import (
    PushMessage,
    PushOutcome,
    PushPayload,
    PushResult,
    PushSender,
    message_for,
    retry_delay_ms,
)
from cloud.queue import RetryLater, retry_later
from cloud.settings import ExpirySettings, OutboxSettings, RetentionSettings
from cloud.store import Store
from cloud.store.errors import StoreUnavailable
from cloud.store.records import OutboxRecord, RelayOutcome, RetentionCutoffs

log = logging.getLogger("cloud.workers.jobs")


TRANSIENT_RETRY_BASE_S: Final = 0.5
TRANSIENT_RETRY_CAP_S: Final = 8.0

JobCallable = Callable[..., Awaitable[Any]]


def transient_retry_delay_s(job_try: int) -> float:
    """Back-off before arq's next try of a job that met a transient failure: doubling, capped."""
    return float(min(TRANSIENT_RETRY_CAP_S, TRANSIENT_RETRY_BASE_S * 2 ** max(job_try - 1, 0)))


def retry_transient(job: JobCallable) -> JobCallable:
    """Run ``job``; when the store is busy past its timeout (:class:`cloud.store.errors.StoreUnavailable`),
    have arq run it again after a back-off instead of failing it.

    Every job is idempotent, so a retry is safe; the worker's ``max_tries`` bounds the retries,
    and an outbox row whose job finally failed is taken by the relay as its next attempt.
    """

    @functools.wraps(job)
    async def run(ctx: dict[str, Any], *args: Any) -> Any:
        try:
            return await job(ctx, *args)
        except StoreUnavailable as exc:
            job_try = int(ctx.get("job_try") or 1)
            delay = transient_retry_delay_s(job_try)
            log.warning("%s try %d: %s; retrying in %.1f s", job.__name__, job_try, exc, delay)
            retry_later(delay)

    return run


_UNCHANGED: Final = frozenset({"already_done", "not_yet"})
"""Job outcomes that changed nothing the dashboard shows."""


async def _announce(ctx: dict[str, Any]) -> None:
    queue = ctx.get("queue")
    channel = ctx.get("dashboard_channel")
    if queue is None or channel is None:
        return
    try:
        await queue.publish(channel, b"job")
    except Exception as exc:  # Redis briefly away: the dashboard catches up on its next refresh
        log.debug("dashboard announcement failed: %r", exc)


def measured(job: JobCallable) -> JobCallable:
    """Run ``job`` and count it (:data:`cloud.metrics.JOBS`, :data:`cloud.metrics.JOB_DURATION`): the
    outcome is what it returned when that is a word (``applied``, ``done``, ``no_consent``...),
    ``ok`` otherwise, ``retry`` when it asked arq for another try, ``error`` when it raised. A run
    that changed something is announced on the dashboard channel."""
    name = job.__name__
    timer = JOB_DURATION.labels(name)

    @functools.wraps(job)
    async def run(ctx: dict[str, Any], *args: Any) -> Any:
        started = time.perf_counter()
        outcome = "error"
        try:
            result = await job(ctx, *args)
            outcome = result if isinstance(result, str) and result.isidentifier() else "ok"
            if outcome not in _UNCHANGED and result != 0:
                await _announce(ctx)
            return result
        except RetryLater:
            outcome = "retry"
            raise
        finally:
            timer.observe(time.perf_counter() - started)
            JOBS.labels(name, outcome).inc()

    return run


class InjectedFault(RuntimeError):
    """A job kind listed in ``OUTBOX_FAULT_KINDS`` failed on purpose (fault tests only)."""


def _check_fault(ctx: dict[str, Any], kind: str) -> None:
    outbox: OutboxSettings = ctx["worker_settings"].outbox
    if kind in outbox.fault_kinds:
        raise InjectedFault(f"{kind} fails on purpose (OUTBOX_FAULT_KINDS)")


async def apply_offer(ctx: dict[str, Any], payload: Any) -> str:
    """Apply an accepted offer to the credit profile, once; returns the store's ``ApplyOutcome``."""
    job = msgspec.convert(payload, OutboxJob)
    _check_fault(ctx, APPLY_OFFER)
    store: Store = ctx["store"]
    ref = f"job:{outbox_job_id(job.outbox_id, job.attempt)}"
    pauses: FaultPauses | None = ctx.get("fault_pauses")
    if pauses is not None:
        await pauses.pause(APPLY_BEFORE_TX)
    outcome = await store.apply_offer(job.outbox_id, ref=ref, now=now_ms())
    log.info("apply_offer outbox %d attempt %d: %s", job.outbox_id, job.attempt, outcome.value)
    if pauses is not None:
        await pauses.pause(APPLY_AFTER_COMMIT)
    await _enqueue_children(ctx, store, job.outbox_id)
    return outcome.value


async def _enqueue_children(ctx: dict[str, Any], store: Store, outbox_id: int) -> None:
    """Enqueue the push the job's transaction queued; on failure the relay enqueues it later."""
    queue: Enqueuer | None = ctx.get("queue")
    children = await store.outbox_children(outbox_id)
    if queue is None or not children:
        return
    try:
        await enqueue_rows(queue, children)
    except Exception as exc:  # Redis briefly away: the rows stay pending for the relay
        log.warning("enqueue of follow-up rows %s failed: %r", [r.outbox_id for r in children], exc)


async def send_push(ctx: dict[str, Any], payload: Any) -> str:
    """Send a ``send_push`` row to every active token of the user's devices; returns what happened.

    Idempotent per (row, token): tokens already sent this row are skipped. Without the user's
    ``push`` consent nothing is sent (the notice still reaches the devices through sync). A retry
    answer from FCM leaves the row pending with a back-off; the relay takes the next attempt.
    """
    job = msgspec.convert(payload, OutboxJob)
    _check_fault(ctx, SEND_PUSH)
    store: Store = ctx["store"]
    sender: PushSender = ctx["push_sender"]
    # Claimed: the relay leaves the row alone for a full timeout while this attempt sends.
    plan = await store.push_plan(job.outbox_id, claim_at=now_ms())
    if plan is None:
        return "already_done"
    push = msgspec.json.decode(plan.payload, type=PushPayload)
    if not plan.offer_open:
        # Checked before the deferral: a closed offer's announcement is finished, not postponed.
        await store.skip_push(job.outbox_id, PushOutcome.OFFER_CLOSED, now_ms())
        return PushOutcome.OFFER_CLOSED.value
    if _deferred(push, plan.not_before):
        # A deferred promotion enqueued early (by hand, or by a future path): it waits, and the
        # relay takes its next attempt once the time has come.
        log.info("send_push outbox %d attempt %d: not before %s", job.outbox_id, job.attempt, plan.not_before)
        return "not_yet"
    if not plan.consented:
        await store.skip_push(job.outbox_id, PushOutcome.NO_CONSENT, now_ms())
        return PushOutcome.NO_CONSENT.value
    messages: list[PushMessage] = [message_for(push, t.token) for t in plan.targets]
    results: list[PushResult] = await sender.send(messages) if messages else []
    for result in results:
        PUSHES.labels(sender.name, result.outcome.value).inc()
    now = now_ms()
    retry_base_ms = round(ctx["worker_settings"].push.retry_base_s * 1000)
    state = await store.record_push(
        job.outbox_id,
        user_id=plan.user_id,
        sender=sender.name,
        sent=list(zip(plan.targets, messages, results, strict=True)),
        attempt=job.attempt,
        retry_at=now + retry_delay_ms(job.attempt, base_ms=retry_base_ms),
        now=now,
    )
    log.info(
        "send_push outbox %d attempt %d: %s (%s)",
        job.outbox_id,
        job.attempt,
        state.value,
        ", ".join(r.outcome.value for r in results) or "no active token",
    )
    return state.value


def _deferred(push: PushPayload, not_before: int | None) -> bool:
    """A promotional notice whose time has not come. Never a transactional one: those are not
    deferred, and their ``not_before`` is only a retry back-off, which the relay already honours."""
    if not_before is None or not_before <= now_ms() or push.notice_kind is None:
        return False
    return notice_class(push.notice_kind) is NoticeClass.PROMOTIONAL


async def expire_offers(ctx: dict[str, Any]) -> int:
    """The expiry cron: expire open offers beyond expiry plus the acceptance grace period.

    Runs the store's one-transaction batch until a batch comes back short, so a backlog never
    holds the write lock for long; returns how many offers were expired.
    """
    store: Store = ctx["store"]
    settings: ExpirySettings = ctx["worker_settings"].expiry
    total = 0
    while True:
        expired = await store.expire_offers(now=now_ms(), limit=settings.batch)
        total += len(expired)
        if len(expired) < settings.batch:
            break
    if total:
        log.info("expire_offers: %d offer(s) expired", total)
    return total


RETENTION_BATCH = 200
"""Rows one retention transaction deletes at most per table, so a backlog never holds the write lock
long."""
DAY_MS = 86_400_000


def retention_cutoffs(settings: RetentionSettings, now: int) -> RetentionCutoffs:
    """What the ``retention`` job deletes at ``now`` (``docs/privacy.md``, retention)."""
    today = datetime.fromtimestamp(now / 1000, UTC).date()
    return RetentionCutoffs(
        aggregates_before_day=(today - timedelta(days=settings.aggregates_days)).isoformat(),
        push_attempts_before=now - settings.push_attempts_days * DAY_MS,
        # A push row stays as long as its attempts: most finished rows are pushes, and a row that
        # an attempt still names would be looked at again by every run.
        outbox_before=now - max(settings.outbox_days, settings.push_attempts_days) * DAY_MS,
        sessions_before=now,
        digests_revoked_before=now - DAY_MS,
    )


async def retention(ctx: dict[str, Any]) -> int:
    """The daily retention cron (``docs/privacy.md``, retention): delete what is past its time, in
    batches of :data:`RETENTION_BATCH` rows per table and transaction; returns how many rows went.

    Aggregates, push attempts, finished outbox rows, digests of revoked devices, ended operator
    sessions; then erased users' devices once wiped or expired; then the change logs, compacted
    user by user."""
    store: Store = ctx["store"]
    settings: RetentionSettings = ctx["worker_settings"].retention
    now = now_ms()
    cutoffs = retention_cutoffs(settings, now)
    counts: Counter[str] = Counter()
    while True:
        outcome = await store.purge_expired(cutoffs, limit=RETENTION_BATCH)
        counts.update(msgspec.structs.asdict(outcome))
        if outcome.most() < RETENTION_BATCH:
            break
    while True:
        purged = await store.purge_wiped_devices(now=now, limit=RETENTION_BATCH)
        counts["erased devices"] += purged.devices
        counts["erased users finished"] += purged.users
        if max(purged.devices, purged.users) < RETENTION_BATCH:
            break
    after = ""
    while True:
        compacted = await store.compact_change_logs(
            after_user_id=after, users=RETENTION_BATCH, before=now - settings.change_log_days * DAY_MS
        )
        counts["change_log"] += compacted.deleted
        if compacted.last_user_id is None or compacted.users < RETENTION_BATCH:
            break
        after = compacted.last_user_id
    log.info(
        "retention: %s", ", ".join(f"{n} {table}" for table, n in sorted(counts.items()) if n) or "nothing"
    )
    return sum(counts.values())


async def evaluate_credit(ctx: dict[str, Any], payload: Any) -> str:
    """Run one requested credit evaluation, once (idempotent through its outbox row).

    Scorecard, guardrail and the offer (with its announcement push) are recorded in one store
    transaction; the pushes due now are enqueued after it, a deferred announcement waits for the
    relay. Returns what the run did (``recorded``, ``failed``, ``already_done``).
    """
    job = msgspec.convert(payload, OutboxJob)
    _check_fault(ctx, EVALUATE_CREDIT)
    evaluator: EvaluationService = ctx["evaluator"]
    outcome = await evaluator.run(job.outbox_id, ref=f"job:{outbox_job_id(job.outbox_id, job.attempt)}")
    guardrail = None if outcome.result is None else outcome.result.guardrail
    if outcome.result is not None and guardrail is not None:
        band = outcome.result.risk_band or "none"
        for code in guardrail.reason_codes or ["none"]:
            GUARDRAIL.labels(code, band).inc()
    log.info(
        "evaluate_credit outbox %d attempt %d: %s (offer %s)",
        job.outbox_id,
        job.attempt,
        outcome.outcome,
        outcome.offer_id,
    )
    await _enqueue_rows(ctx, outcome.enqueue)
    return outcome.outcome


async def evaluate_active_users(ctx: dict[str, Any]) -> int:
    """The daily cron: an evaluation request for every active user not evaluated today.

    Requests are written in batches (one transaction each) and enqueued after; running it twice
    on a day writes nothing the second time. Returns how many were requested.
    """
    evaluator: EvaluationService = ctx["evaluator"]
    rows = await evaluator.request_daily()
    await _enqueue_rows(ctx, rows)
    log.info("evaluate_active_users: %d evaluation(s) requested", len(rows))
    return len(rows)


async def _enqueue_rows(ctx: dict[str, Any], rows: list[OutboxRecord]) -> None:
    """Enqueue rows written by a job's committed transaction; on failure the relay takes them."""
    queue: Enqueuer | None = ctx.get("queue")
    if queue is None or not rows:
        return
    try:
        await enqueue_rows(queue, rows)
    except Exception as exc:  # Redis briefly away: the rows stay pending for the relay
        log.warning("enqueue of rows %s failed: %r", [r.outbox_id for r in rows], exc)


async def relay_once(store: Store, queue: Enqueuer, settings: OutboxSettings) -> RelayOutcome:
    """One relay pass: take the stale rows' next attempts (or dead-letter them), then enqueue.

    The attempt is counted before it is enqueued, so an enqueue that fails costs that attempt
    and the next pass tries again after the timeout: the row can never be retried forever.
    """
    outcome = await store.relay_outbox(
        now=now_ms(),
        timeout_ms=round(settings.relay_timeout_s * 1000),
        max_attempts=settings.max_attempts,
    )
    if outcome.dead:
        log.warning("outbox rows dead-lettered: %s", outcome.dead)
    if outcome.requeued:
        await enqueue_rows(queue, outcome.requeued)
        log.info("relay re-enqueued outbox rows: %s", [(r.outbox_id, r.attempts) for r in outcome.requeued])
    return outcome


async def relay_forever(store: Store, queue: Enqueuer, settings: OutboxSettings) -> None:
    """Run :func:`relay_once` every ``relay_interval_s`` until cancelled; a failed pass is logged."""
    while True:
        try:
            await relay_once(store, queue, settings)
        except Exception as exc:  # the database or Redis is briefly unavailable: try next interval
            log.warning("relay pass failed: %r", exc)
        await asyncio.sleep(settings.relay_interval_s)
