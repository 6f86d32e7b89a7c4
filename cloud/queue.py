"""The job queue: a small facade over arq, the only module (with the worker entry) that imports it.

arq is in maintenance mode; keeping it behind this module means replacing it touches two files.
Jobs and results are serialised with msgspec msgpack, never pickle, so nothing read from Redis can
execute code. A job takes one payload (anything msgspec can encode: a Struct, a dict, scalars);
the job function receives it decoded as plain builtins (a Struct arrives as a dict; use
``msgspec.convert`` to get the Struct back).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final, NoReturn

import msgspec
from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.cron import cron
from arq.jobs import Job, ResultNotFound, SerializationError
from arq.worker import Retry, Worker, func

from cloud.constants import QUEUE_NAME
from cloud.settings import cron_fields

JobFunction = Callable[..., Awaitable[Any]]
"""``async def job(ctx: dict[str, Any], payload: Any) -> Any``."""


class QueueError(RuntimeError):
    """Base of the queue's failures."""


class JobFailed(QueueError):
    """The job ran and raised; ``error`` is the exception's class name."""

    def __init__(self, job_id: str, error: str, message: str) -> None:
        super().__init__(f"job {job_id} failed: {error}: {message}")
        self.job_id = job_id
        self.error = error
        self.message = message


class JobNotFound(QueueError):
    """No such job queued and no result kept for it."""


class JobTimeout(QueueError):
    """The job's result did not appear in time."""


def _enc_hook(obj: Any) -> Any:
    # arq stores a failed job's exception as its result; keep its class and message as data.
    if isinstance(obj, BaseException):
        return {"error": type(obj).__name__, "message": str(obj)}
    if isinstance(obj, timedelta):
        return obj.total_seconds()
    raise NotImplementedError(f"cannot serialise {type(obj).__name__} in a job")


_encoder: Final = msgspec.msgpack.Encoder(enc_hook=_enc_hook)
_decoder: Final = msgspec.msgpack.Decoder(dict[str, Any])


def job_serializer(data: dict[str, Any]) -> bytes:
    """arq ``job_serializer``: msgpack through msgspec."""
    return _encoder.encode(data)


def job_deserializer(data: bytes) -> dict[str, Any]:
    """arq ``job_deserializer``: msgpack through msgspec, never pickle."""
    return _decoder.decode(data)


def redis_settings(redis_url: str) -> RedisSettings:
    """arq connection settings from a ``redis://`` / ``rediss://`` / ``unix://`` URL."""
    settings = RedisSettings.from_dsn(redis_url)
    # Fail fast at start-up rather than arq's default five one-second retries.
    settings.conn_retries = 2
    return settings


class Queue:
    """Enqueue jobs and read their results.

    Job ids given by the caller are scoped by the queue name in Redis: arq keys jobs and results
    by id alone (``arq:job:<id>``), so two deployments sharing a Redis database would otherwise
    dedupe each other's ``{outbox_id}:{attempt}`` jobs away.
    """

    def __init__(self, redis: ArqRedis, queue_name: str) -> None:
        self._redis = redis
        self.queue_name = queue_name

    def redis_job_id(self, job_id: str) -> str:
        """The id arq keys the job and its result by in Redis."""
        return f"{self.queue_name}:{job_id}"

    async def enqueue(self, function_name: str, payload: Any, job_id: str | None = None) -> str | None:
        """Queue ``function_name(payload)``; returns the job id (a new one if none was given), or
        ``None`` if ``job_id`` is already queued or its result still kept (the dedupe that makes a
        second enqueue a no-op)."""
        job_id = uuid.uuid4().hex if job_id is None else job_id
        job = await self._redis.enqueue_job(
            function_name, payload, _job_id=self.redis_job_id(job_id), _queue_name=self.queue_name
        )
        return None if job is None else job_id

    async def result(self, job_id: str, timeout_s: float = 10.0, poll_s: float = 0.05) -> Any:
        """Wait for a job's result; raises :class:`JobFailed`, :class:`JobNotFound` or :class:`JobTimeout`."""
        job = Job(
            self.redis_job_id(job_id),
            self._redis,
            _queue_name=self.queue_name,
            _deserializer=job_deserializer,
        )
        try:
            return await job.result(timeout=timeout_s, poll_delay=poll_s)
        except TimeoutError as exc:
            raise JobTimeout(f"job {job_id}: no result after {timeout_s} s") from exc
        except ResultNotFound as exc:
            raise JobNotFound(f"job {job_id} is neither queued nor has a kept result") from exc
        except SerializationError as exc:
            detail = exc.args[0] if exc.args else {}
            if isinstance(detail, dict):
                raise JobFailed(job_id, str(detail.get("error")), str(detail.get("message"))) from None
            raise JobFailed(job_id, "unknown", str(detail)) from None

    async def timing(self, job_id: str) -> JobTiming | None:
        """When a finished job was enqueued, started and finished, from its kept result; ``None``
        while it has no result (queued, running, or its result expired)."""
        job = Job(
            self.redis_job_id(job_id),
            self._redis,
            _queue_name=self.queue_name,
            _deserializer=job_deserializer,
        )
        info = await job.result_info()
        if info is None:
            return None
        return JobTiming(
            enqueued_ms=round(info.enqueue_time.timestamp() * 1000),
            started_ms=round(info.start_time.timestamp() * 1000),
            finished_ms=round(info.finish_time.timestamp() * 1000),
            success=info.success,
        )

    async def worker_health(self) -> str | None:
        """The last health line a worker of this queue wrote (jobs complete, failed, retried,
        ongoing, queued), or ``None`` when no worker has written one within its interval + 1 s."""
        raw: bytes | None = await self._redis.get(health_check_key(self.queue_name))
        return None if raw is None else raw.decode()

    async def publish(self, channel: str, data: bytes) -> None:
        """Publish ``data`` on a Redis pub/sub ``channel`` (the dashboard's announcements)."""
        await self._redis.publish(channel, data)

    async def depth(self) -> int:
        """Jobs waiting in the queue (queued or deferred, not yet taken by a worker)."""
        # arq keeps a queue as one sorted set named after it, scored by when each job may run.
        depth: int = await self._redis.zcard(self.queue_name)
        return depth

    async def close(self) -> None:
        await self._redis.aclose(close_connection_pool=True)


class JobTiming(msgspec.Struct, frozen=True, kw_only=True):
    """A finished job's times as arq recorded them, in epoch milliseconds (the machine clock)."""

    enqueued_ms: int
    started_ms: int
    """When a worker took the job and began running it (after any wait in the queue)."""
    finished_ms: int
    success: bool


async def create_queue(redis_url: str, queue_name: str = QUEUE_NAME) -> Queue:
    """Connect to Redis (PING included) and return a :class:`Queue`."""
    redis = await create_pool(
        redis_settings(redis_url),
        job_serializer=job_serializer,
        job_deserializer=job_deserializer,
        default_queue_name=queue_name,
    )
    return Queue(redis, queue_name)


CronFunction = Callable[[dict[str, Any]], Awaitable[Any]]
"""``async def job(ctx: dict[str, Any]) -> Any``: a scheduled job takes no payload."""


@dataclass(frozen=True, slots=True)
class CronJob:
    """A job every worker schedules each ``interval_s``; each tick runs once across all workers."""

    function: CronFunction
    interval_s: int
    """Seconds; one that a wall-clock schedule can express (:func:`cloud.settings.cron_fields`)."""
    run_at_startup: bool = False
    hour: int | None = None
    """For a daily job (``interval_s`` 86 400): the hour (UTC) it runs at instead of midnight."""


def _arq_cron(job: CronJob, queue_name: str) -> Any:
    # arq names a unique cron run "<name>:<tick>" in Redis, unscoped by queue: the queue name in the
    # cron's name keeps two deployments sharing one Redis from deduplicating each other's ticks.
    return cron(
        job.function,  # type: ignore[arg-type]
        name=f"cron:{queue_name}:{job.function.__name__}",
        run_at_startup=job.run_at_startup,
        unique=True,
        **_schedule(job),  # type: ignore[arg-type]
    )


def _schedule(job: CronJob) -> dict[str, set[int]]:
    fields = cron_fields(job.interval_s)
    if job.hour is not None:
        if job.interval_s != 86_400 or not 0 <= job.hour <= 23:
            raise ValueError(f"hour {job.hour} needs a daily interval and 0..23")
        fields["hour"] = {job.hour}
    return fields


def health_check_key(queue_name: str) -> str:
    """The Redis key a worker of ``queue_name`` refreshes every health-check interval."""
    return f"{queue_name}:health-check"


RetryLater = Retry
"""What :func:`retry_later` raises (arq's ``Retry``), for a caller that must tell it from a failure."""


def retry_later(defer_s: float) -> NoReturn:
    """Ask the queue to run the current job again, same id, after ``defer_s`` seconds.

    Only for transient failures (the database busy past its timeout): the worker gives up after
    its ``max_tries`` and the job fails; an outbox row then waits for the relay's next attempt.
    """
    raise Retry(defer=defer_s)


def build_worker(
    redis_url: str,
    functions: Sequence[JobFunction],
    *,
    cron_jobs: Sequence[CronJob] = (),
    ctx: dict[str, Any] | None = None,
    on_startup: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
    on_shutdown: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
    queue_name: str = QUEUE_NAME,
    job_timeout_s: float = 60.0,
    keep_result_s: float = 3600.0,
    max_tries: int = 5,
    max_jobs: int = 32,
    poll_delay_s: float = 0.05,
    shutdown_wait_s: int = 10,
    health_check_interval_s: float = 10.0,
) -> Worker:
    """An arq worker with msgspec serialisers; call ``run()`` in a process of its own.

    ``cron_jobs`` run on their wall-clock schedule in every worker; arq enqueues each tick under
    one job id, so several workers run it once.

    The caller sets a fresh event loop first: arq picks up the current loop when constructed.
    """
    return Worker(
        functions=[func(f, name=f.__name__) for f in functions],  # type: ignore[arg-type]
        cron_jobs=[_arq_cron(job, queue_name) for job in cron_jobs],
        queue_name=queue_name,
        redis_settings=redis_settings(redis_url),
        ctx=ctx,
        # arq's StartupShutdown protocol is exactly this call signature; mypy cannot see it.
        on_startup=on_startup,  # type: ignore[arg-type]
        on_shutdown=on_shutdown,  # type: ignore[arg-type]
        job_serializer=job_serializer,
        job_deserializer=job_deserializer,
        job_timeout=job_timeout_s,
        keep_result=keep_result_s,
        max_tries=max_tries,
        max_jobs=max_jobs,
        poll_delay=poll_delay_s,
        # On SIGTERM/SIGINT take no new job and let running ones finish for this long.
        job_completion_wait=shutdown_wait_s,
        health_check_key=health_check_key(queue_name),
        health_check_interval=health_check_interval_s,
    )


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A fresh loop set as current, for :func:`build_worker` outside any running loop."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    return loop
