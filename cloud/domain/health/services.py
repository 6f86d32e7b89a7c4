"""``GET /v1/admin/doctor``: what an operator checks first when something looks wrong.

Each check answers ``ok`` with a detail: the settings (the environment, and what development
defaults are still in use), the database (answers, and how long it took), Redis, the migrations
(this database's against the ones this build knows), the workers (a worker of the queue wrote its
health line recently) and the clock skew between this API process and the database server.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Final, Protocol

import msgspec
from redis.asyncio import Redis

from cloud.clock import now_ms
from cloud.settings import Settings
from cloud.store.protocol import Store

PROBE_TIMEOUT_S: Final = 2.0
MAX_SKEW_MS: Final = 2_000
"""Beyond this the API's and the database's times disagree enough to matter (expiry, grace)."""


class Check(msgspec.Struct, kw_only=True):
    name: str
    ok: bool
    detail: str


class DoctorReport(msgspec.Struct, kw_only=True):
    ok: bool
    """Every check is ok."""
    checks: list[Check]


class HealthReader(Protocol):
    async def worker_health(self) -> str | None: ...


class DoctorService:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        redis: Redis | None,
        queue: HealthReader | None,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._settings = settings
        self._store = store
        self._redis = redis
        self._queue = queue
        self._clock = clock

    async def report(self) -> DoctorReport:
        checks = [
            self._settings_check(),
            await self._timed("database", self._store.ping()),
            await self._redis_check(),
            await self._migrations_check(),
            await self._workers_check(),
            await self._skew_check(),
        ]
        return DoctorReport(ok=all(c.ok for c in checks), checks=checks)

    def _settings_check(self) -> Check:
        env = self._settings.env
        if env == "production":
            return Check(name="settings", ok=True, detail="production: secrets set and checked at start-up")
        return Check(
            name="settings", ok=True, detail=f"{env}: development defaults allowed (not for production)"
        )

    async def _timed(self, name: str, probe: Awaitable[object]) -> Check:
        started = time.perf_counter()
        try:
            await asyncio.wait_for(probe, PROBE_TIMEOUT_S)
        except Exception as exc:  # any failure is the finding
            return Check(name=name, ok=False, detail=f"no answer: {type(exc).__name__}")
        return Check(name=name, ok=True, detail=f"answers in {(time.perf_counter() - started) * 1000:.1f} ms")

    async def _redis_check(self) -> Check:
        if self._redis is None:
            return Check(name="redis", ok=False, detail="REDIS_URL unset: no queue, no live dashboard")
        return await self._timed("redis", self._redis.ping())

    async def _migrations_check(self) -> Check:
        try:
            status = await self._store.migration_status()
        except Exception as exc:
            return Check(name="migrations", ok=False, detail=f"cannot read: {type(exc).__name__}")
        applied, known = set(status.applied), status.known
        missing = [name for name in known if name not in applied]
        unknown = sorted(applied - set(known))
        if missing:
            return Check(name="migrations", ok=False, detail=f"not applied: {', '.join(missing)}")
        if unknown:
            # A newer build migrated this database: this process is the old one of a rolling deploy.
            return Check(
                name="migrations", ok=True, detail=f"all {len(known)} applied; newer ones too: {unknown}"
            )
        return Check(name="migrations", ok=True, detail=f"all {len(known)} applied, latest {known[-1]}")

    async def _workers_check(self) -> Check:
        if self._queue is None:
            return Check(name="workers", ok=False, detail="no queue to read worker health from")
        try:
            health = await asyncio.wait_for(self._queue.worker_health(), PROBE_TIMEOUT_S)
        except Exception as exc:
            return Check(name="workers", ok=False, detail=f"cannot read: {type(exc).__name__}")
        if health is None:
            return Check(name="workers", ok=False, detail="no worker of this queue reported recently")
        return Check(name="workers", ok=True, detail=health.strip())

    async def _skew_check(self) -> Check:
        try:
            before = self._clock()
            database = await asyncio.wait_for(self._store.database_time_ms(), PROBE_TIMEOUT_S)
            after = self._clock()
        except Exception as exc:
            return Check(
                name="clock skew", ok=False, detail=f"cannot read the database clock: {type(exc).__name__}"
            )
        skew = database - (before + after) // 2
        return Check(
            name="clock skew",
            ok=abs(skew) <= MAX_SKEW_MS,
            detail=f"database {skew:+d} ms from this API process (limit ±{MAX_SKEW_MS} ms)",
        )
