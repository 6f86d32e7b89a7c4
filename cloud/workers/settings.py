"""Worker settings, derived from the cloud's typed settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from cloud.constants import QUEUE_NAME
from cloud.settings import (
    AcceptanceSettings,
    DatabaseSettings,
    ExpirySettings,
    FaultSettings,
    OutboxSettings,
    PushSettings,
    RetentionSettings,
    Settings,
)


class RedisNotConfigured(RuntimeError):
    """The worker needs ``REDIS_URL``; only the runner may start an embedded Redis."""


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    redis_url: str
    database: DatabaseSettings
    queue_name: str = QUEUE_NAME
    job_timeout_s: float = 60.0
    """arq ``job_timeout`` (``WORKER_JOB_TIMEOUT_S``); a dead worker's job is re-run ``+ 10`` s later."""
    keep_result_s: float = 3600.0
    """How long a result (and with it the ``job_id`` dedupe) is kept in Redis."""
    max_tries: int = 5
    max_jobs: int = 32
    """arq ``max_jobs`` (``WORKER_MAX_JOBS``)."""
    poll_delay_s: float = 0.05
    """arq ``poll_delay`` (``WORKER_POLL_DELAY_S``)."""
    shutdown_wait_s: int = 10
    """arq ``job_completion_wait`` (``WORKER_SHUTDOWN_WAIT_S``)."""
    health_check_interval_s: float = 10.0
    """arq ``health_check_interval`` (``WORKER_HEALTH_CHECK_INTERVAL_S``)."""
    outbox: OutboxSettings = field(default_factory=OutboxSettings)
    """Relay timeout and interval, attempts before dead-letter, injected faults."""
    push: PushSettings = field(default_factory=PushSettings)
    expiry: ExpirySettings = field(default_factory=ExpirySettings)
    """The ``expire_offers`` cron: interval and batch size."""
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    """The ``retention`` cron: how long each kind of row is kept."""
    acceptance: AcceptanceSettings = field(default_factory=AcceptanceSettings)
    """The offline-acceptance rule the store is opened with (its grace period bounds expiry)."""
    faults: FaultSettings = field(default_factory=FaultSettings)
    """Test-only pause points (``FAULT_PAUSE_AT``)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkerSettings:
        if settings.redis.url is None:
            raise RedisNotConfigured("REDIS_URL must be set for a worker process")
        return cls(
            redis_url=settings.redis.url,
            database=settings.database,
            queue_name=settings.outbox.queue_name,
            job_timeout_s=settings.jobs.timeout_s,
            max_jobs=settings.jobs.max_jobs,
            poll_delay_s=settings.jobs.poll_delay_s,
            shutdown_wait_s=settings.jobs.shutdown_wait_s,
            health_check_interval_s=settings.jobs.health_check_interval_s,
            outbox=settings.outbox,
            push=settings.push,
            expiry=settings.expiry,
            retention=settings.retention,
            acceptance=settings.acceptance,
            faults=settings.faults,
        )
