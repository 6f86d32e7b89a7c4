"""The services the handlers use, built once at start-up and kept in ``app.state.services``.

Typed handlers receive them by name through Litestar's dependency injection
(:data:`cloud.deps.DEPENDENCIES`); the sync and token handlers, the hot path, and the guards look
them up with :func:`services_of`, which skips the per-request resolution.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection
from redis.asyncio import Redis

from cloud.domain.admin.services import AdminService
from cloud.domain.analytics.services import AnalyticsService
from cloud.domain.credit.services import EvaluationService
from cloud.domain.dashboard.services import DashboardService
from cloud.domain.devices.services import DeviceService
from cloud.domain.health.services import DoctorService
from cloud.domain.offers.operations import OutboxOperations
from cloud.domain.offers.services import OfferService
from cloud.domain.operators.services import OperatorService
from cloud.domain.releases.services import ReleaseService
from cloud.domain.sync.services import SyncService
from cloud.ratelimit import RateLimiter
from cloud.settings import Settings
from cloud.store.protocol import Store


@dataclass(slots=True)
class Services:
    settings: Settings
    store: Store
    redis: Redis | None
    limiter: RateLimiter
    devices: DeviceService
    sync: SyncService
    admin: AdminService
    analytics: AnalyticsService
    offers: OfferService
    credit: EvaluationService
    outbox: OutboxOperations
    dashboard: DashboardService
    doctor: DoctorService
    operators: OperatorService
    releases: ReleaseService


def services_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Services:
    services: Services = connection.app.state.services
    return services
