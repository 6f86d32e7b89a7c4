"""The application factory: wiring only (``uvicorn --factory cloud.app:create_app``)."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.channels import ChannelsPlugin
from litestar.channels.backends.base import ChannelsBackend
from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.config.cors import CORSConfig
from redis.asyncio import Redis

from cloud.api_docs import openapi_config
from cloud.body_timeout import body_timeout_middleware
from cloud.constants import dashboard_channel
from cloud.deps import DEPENDENCIES
from cloud.domain.admin.controllers import AdminController
from cloud.domain.admin.outbox_controllers import OutboxController
from cloud.domain.admin.services import AdminService
from cloud.domain.analytics.controllers import AnalyticsController
from cloud.domain.analytics.services import AnalyticsService
from cloud.domain.credit.controllers import CreditController
from cloud.domain.credit.services import EvaluationService
from cloud.domain.dashboard.controllers import DashboardController, DashboardPageController
from cloud.domain.dashboard.services import DashboardService
from cloud.domain.dashboard.updates import Announcer, ResilientPubSubBackend, publisher
from cloud.domain.devices.controllers import DeviceController
from cloud.domain.devices.services import DeviceService
from cloud.domain.health.controllers import HealthController
from cloud.domain.health.services import DoctorService
from cloud.domain.offers.operations import OutboxOperations
from cloud.domain.offers.services import OfferService
from cloud.domain.operators.controllers import OperatorController, SessionController
from cloud.domain.operators.services import OperatorService
from cloud.domain.releases.controllers import ModelFileController, ReleaseAdminController
from cloud.domain.releases.services import ReleaseService
from cloud.domain.sync.controllers import SyncController
from cloud.domain.sync.services import SyncService
from cloud.journal import RightsJournal
from cloud.metrics import metrics_middleware
from cloud.outbox.enqueue import OutboxDispatcher
from cloud.problems import EXCEPTION_HANDLERS
from cloud.queue import Queue, create_queue
from cloud.ratelimit import RateLimiter, proxy_headers
from cloud.request_context import configure_logging, request_id_middleware
from cloud.security_headers import security_headers_middleware
from cloud.services import Services
from cloud.settings import Settings, load_settings
from cloud.store import open_store
from sync.limits import MAX_BODY_BYTES

logger = logging.getLogger(__name__)


async def _open_queue(redis_url: str, queue_name: str) -> Queue | None:
    """The job queue, or ``None`` if Redis does not answer now: the worker's relay enqueues then."""
    try:
        return await create_queue(redis_url, queue_name)
    except Exception as exc:  # any connection failure; start anyway, /health/ready reports Redis
        logger.warning("job queue unavailable (%r): outbox rows wait for the relay", exc)
        return None


def _channels_backend(redis_url: str | None) -> ChannelsBackend:
    # Redis pub/sub: a change announced by any API process or worker reaches every API process's
    # dashboard streams. Without Redis there is one process, and memory does.
    if redis_url:
        return ResilientPubSubBackend(redis=Redis.from_url(redis_url))
    return MemoryChannelsBackend()


def _cors(origins: tuple[str, ...]) -> CORSConfig | None:
    # Closed unless origins are listed: the dashboard is same-origin, devices are not browsers.
    if not origins:
        return None
    return CORSConfig(
        allow_origins=list(origins),
        allow_methods=["GET", "POST", "PUT"],
        allow_headers=["authorization", "content-type", "x-request-id"],
        expose_headers=["x-request-id", "retry-after"],
        allow_credentials=False,
    )


def create_app(settings: Settings | None = None) -> Litestar:
    """Build the API. Settings come from the environment unless given; production refuses defaults."""
    settings = settings or load_settings()
    settings.check()
    configure_logging(json_lines=settings.log_format == "json")
    channel = dashboard_channel(settings.outbox.queue_name)
    # Subscribed on a stream's first use, not at start-up: the API starts while Redis is away.
    channels = ChannelsPlugin(_channels_backend(settings.redis.url), arbitrary_channels_allowed=True)
    announcer = Announcer(publisher(channels, channel, b"sync"))

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        store = await open_store(settings.database, acceptance=settings.acceptance.rule())
        redis: Redis | None = None
        queue: Queue | None = None
        limiter = RateLimiter(settings.rate_limits, settings.redis.url, settings.outbox.queue_name)
        operators = OperatorService(
            store,
            settings.operators,
            admin_token=settings.auth.admin_token,
            production=settings.is_production,
        )
        try:
            applied = await store.migrate()
            if applied:
                logger.info("applied migrations: %s", ", ".join(applied))
            if settings.redis.url:
                redis = Redis.from_url(settings.redis.url)
                queue = await _open_queue(settings.redis.url, settings.outbox.queue_name)
            else:
                logger.warning("REDIS_URL unset: /health/ready reports Redis down")
            journal = RightsJournal(settings.rights_journal_dir)
            app.state.services = Services(
                settings=settings,
                store=store,
                redis=redis,
                limiter=limiter,
                devices=DeviceService(store, settings.auth),
                sync=SyncService(
                    store,
                    settings.api.next_sync_after_s,
                    outbox=OutboxDispatcher(queue),
                    exit_after_commit=settings.faults.exit_after_commit,
                    on_change=announcer,
                    epoch=await store.epoch(),
                    journal=journal,
                ),
                admin=AdminService(store, settings.auth, outbox=OutboxDispatcher(queue), journal=journal),
                analytics=AnalyticsService(store),
                offers=OfferService(store, outbox=OutboxDispatcher(queue)),
                credit=EvaluationService(store, settings.credit, outbox=OutboxDispatcher(queue)),
                outbox=OutboxOperations(store, queue, settings.outbox.queue_name),
                dashboard=DashboardService(store, AnalyticsService(store), queue),
                doctor=DoctorService(settings, store, redis, queue),
                operators=operators,
                releases=ReleaseService(store),
            )
            app.state.dashboard_channel = channel
            app.state.dashboard_refresh_s = settings.api.dashboard_refresh_s
            app.state.cors_origins = frozenset(settings.api.cors_origins)
            # Everything built so far lives as long as the process: move it out of the cyclic
            # collector's reach, so its passes no longer walk it (they took about 5 % of a sync).
            gc.freeze()
            yield
        finally:
            await limiter.close()
            operators.close()
            if queue is not None:
                await queue.close()
            if redis is not None:
                await redis.aclose()
            await store.close()

    app = Litestar(
        route_handlers=[
            HealthController,
            DeviceController,
            SyncController,
            AdminController,
            AnalyticsController,
            OutboxController,
            CreditController,
            DashboardController,
            DashboardPageController,
            SessionController,
            OperatorController,
            ReleaseAdminController,
            ModelFileController,
        ],
        plugins=[channels],
        exception_handlers=EXCEPTION_HANDLERS,
        dependencies=DEPENDENCIES,
        lifespan=[lifespan],
        request_max_body_size=MAX_BODY_BYTES,
        openapi_config=openapi_config(settings.api.docs),
        cors_config=_cors(settings.api.cors_origins),
        debug=False,
        # Logging is configured by configure_logging() (request ids in every line), not by Litestar.
        logging_config=None,
    )
    # Outermost, around Litestar's exception handling and routing, so 404/405 answers get an id and
    # the security headers too, and are counted (by the route template the router leaves on the scope).
    handler = body_timeout_middleware(app.asgi_handler, settings.api.body_read_timeout_s)
    app.asgi_handler = request_id_middleware(security_headers_middleware(metrics_middleware(handler)))
    # Outermost of all: the client address every layer sees (rate limits, logs) is the forwarded one.
    app.asgi_handler = proxy_headers(app.asgi_handler, settings.rate_limits.trusted_proxies)
    return app
