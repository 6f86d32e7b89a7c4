"""Worker settings, derived from the cloud's typed settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from cloud.constants import QUEUE_NAME
from cloud.settings import DatabaseSettings, OutboxSettings, PushSettings, Settings


class RedisNotConfigured(RuntimeError):
    """The worker needs ``REDIS_URL``; only the runner may start an embedded Redis."""


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    redis_url: str
    database: DatabaseSettings
    queue_name: str = QUEUE_NAME
    job_timeout_s: float = 60.0
    keep_result_s: float = 3600.0
    """How long a result (and with it the ``job_id`` dedupe) is kept in Redis."""
    max_tries: int = 5
    outbox: OutboxSettings = field(default_factory=OutboxSettings)
    """Relay timeout and interval, attempts before dead-letter, injected faults."""
    push: PushSettings = field(default_factory=PushSettings)

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkerSettings:
        if settings.redis.url is None:
            raise RedisNotConfigured("REDIS_URL must be set for a worker process")
        return cls(
            redis_url=settings.redis.url,
            database=settings.database,
            queue_name=settings.outbox.queue_name,
            outbox=settings.outbox,
            push=settings.push,
        )
