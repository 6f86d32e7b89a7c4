"""The arq worker: job functions, start-up (migrations) and the process entry point.

Jobs take ``(ctx, payload)``; ``ctx["store"]`` is the cloud store opened at start-up, after its
migrations ran, so no job ever sees an old schema. The outbox relay (:mod:`cloud.workers.jobs`)
runs as a task of each worker process, beside the jobs, from start-up to shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from typing import Any

from cloud.constants import dashboard_channel
from cloud.domain.credit.services import EvaluationService
from cloud.faults import FaultPauses
from cloud.outbox.kinds import OutboxKind
from cloud.queue import CronJob, JobFunction, Queue, build_worker, new_event_loop
from cloud.request_context import use_json_lines
from cloud.settings import CreditSettings, InsecureSettings, load_settings
from cloud.workers.gauges import gauges_forever
from cloud.workers.jobs import (
    apply_offer,
    evaluate_active_users,
    evaluate_credit,
    expire_offers,
    measured,
    relay_forever,
    retention,
    retry_transient,
    send_push,
)
from cloud.workers.settings import RedisNotConfigured, WorkerSettings

log = logging.getLogger("cloud.workers")


async def ping(ctx: dict[str, Any], payload: Any) -> Any:
    """Return the payload unchanged and record nothing: proves a job round-trips through the queue."""
    return payload


JOBS: dict[OutboxKind, JobFunction] = {
    OutboxKind.APPLY_OFFER: apply_offer,
    OutboxKind.SEND_PUSH: send_push,
    OutboxKind.EVALUATE_CREDIT: evaluate_credit,
}
"""The job of each outbox kind: a row of kind ``k`` is enqueued as the job named ``k``."""

FUNCTIONS: tuple[JobFunction, ...] = (ping, *(measured(retry_transient(job)) for job in JOBS.values()))
"""Every job the worker runs, registered under the function's name; a busy store is retried and
every run is counted (:mod:`cloud.metrics`)."""


DAY_S = 86_400
RETENTION_HOUR_UTC = 3


def cron_jobs(settings: WorkerSettings, credit: CreditSettings) -> list[CronJob]:
    """The scheduled jobs, each run once per tick across all workers."""
    return [
        CronJob(measured(retry_transient(expire_offers)), settings.expiry.interval_s),
        CronJob(measured(retry_transient(evaluate_active_users)), DAY_S, hour=credit.daily_hour_utc),
        # Daily, at an hour of little traffic: a day is the finest period any retention rule uses.
        CronJob(measured(retry_transient(retention)), DAY_S, hour=RETENTION_HOUR_UTC),
    ]


async def on_startup(ctx: dict[str, Any]) -> None:
    """Open the store and run its migrations before the first job is taken."""
    from cloud.push.senders import build_sender  # firebase-admin: only workers send pushes
    from cloud.store import open_store  # the store pulls in the database drivers; only workers need them

    settings: WorkerSettings = ctx["worker_settings"]
    pauses = FaultPauses(settings.faults.pause_at) if settings.faults.pause_at else None
    ctx["fault_pauses"] = pauses
    store = await open_store(
        settings.database,
        acceptance=settings.acceptance.rule(),
        fault_hook=None if pauses is None else pauses.blocking,
    )
    await store.migrate()
    ctx["store"] = store
    # The worker's own pool: created by arq with our serialisers and queue name; arq closes it.
    queue = Queue(ctx["redis"], settings.queue_name)
    ctx["queue"] = queue
    ctx["dashboard_channel"] = dashboard_channel(settings.queue_name)
    ctx["push_sender"] = build_sender(settings.push)
    ctx["evaluator"] = EvaluationService(store, ctx["credit_settings"])
    ctx["relay"] = asyncio.create_task(relay_forever(store, queue, settings.outbox), name="outbox-relay")
    ctx["gauges"] = asyncio.create_task(
        gauges_forever(store, queue, settings.outbox.metrics_interval_s), name="metric-gauges"
    )
    log.info("worker ready on queue %s", settings.queue_name)


async def on_shutdown(ctx: dict[str, Any]) -> None:
    for name in ("relay", "gauges"):
        task: asyncio.Task[None] | None = ctx.pop(name, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    sender = ctx.pop("push_sender", None)
    if sender is not None:
        await sender.close()
    store = ctx.pop("store", None)
    if store is not None:
        await store.close()


def main() -> int:
    """Run one worker until SIGINT or SIGTERM; returns the process exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(levelname)s %(name)s: %(message)s")
    try:
        loaded = load_settings()
        settings = WorkerSettings.from_settings(loaded)
        if loaded.log_format == "json":
            use_json_lines()
    except (RedisNotConfigured, InsecureSettings, ValueError) as exc:
        # Bad settings (a malformed number, skew above the grace period, a fault hook in
        # production): a clear line and exit code 2, as the runner does, not a traceback.
        print(f"error: {exc}", file=sys.stderr)
        return 2
    new_event_loop()
    worker = build_worker(
        settings.redis_url,
        FUNCTIONS,
        cron_jobs=cron_jobs(settings, loaded.credit),
        ctx={"worker_settings": settings, "credit_settings": loaded.credit},
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        queue_name=settings.queue_name,
        job_timeout_s=settings.job_timeout_s,
        keep_result_s=settings.keep_result_s,
        max_tries=settings.max_tries,
        max_jobs=settings.max_jobs,
        poll_delay_s=settings.poll_delay_s,
        shutdown_wait_s=settings.shutdown_wait_s,
        health_check_interval_s=settings.health_check_interval_s,
    )
    worker.run()
    return 0
