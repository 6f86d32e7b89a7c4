"""``/health/live`` (the process answers), ``/health/ready`` (database and Redis answer) and
``/metrics`` (Prometheus, with the admin token: see :mod:`cloud.metrics`)."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Controller, Request, Response, get

from cloud.constants import HEALTH_LIVE_PATH, HEALTH_READY_PATH, METRICS_PATH
from cloud.deps import ADMIN_SECURITY, admin_guard
from cloud.errors import Unavailable
from cloud.metrics import CONTENT_TYPE, render
from cloud.services import services_of

PROBE_TIMEOUT_S = 2.0


class HealthController(Controller):
    tags = ["health"]

    @get(HEALTH_LIVE_PATH)
    async def live(self) -> dict[str, str]:
        return {"status": "ok"}

    @get(HEALTH_READY_PATH)
    async def ready(self, request: Request[Any, Any, Any]) -> dict[str, str]:
        """200 when the database and Redis both answer, else 503 problem naming what is down."""
        services = services_of(request)
        down: list[str] = []
        try:
            await asyncio.wait_for(services.store.ping(), PROBE_TIMEOUT_S)
        except Exception:
            down.append("database")
        redis = services.redis
        try:
            if redis is None:
                raise ConnectionError("no Redis configured")
            await asyncio.wait_for(redis.ping(), PROBE_TIMEOUT_S)
        except Exception:
            down.append("redis")
        if down:
            raise Unavailable(f"not ready: {', '.join(down)} down")
        return {"status": "ready", "database": "ok", "redis": "ok"}

    @get(METRICS_PATH, guards=[admin_guard], security=ADMIN_SECURITY, media_type=CONTENT_TYPE)
    async def metrics(self) -> Response[bytes]:
        """Prometheus exposition text: this process's metrics, or the host's in multiprocess mode."""
        return Response(render(), media_type=CONTENT_TYPE)
