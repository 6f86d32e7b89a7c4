"""Rate limits shared by every API process: per device on ``/v1/sync``, per client address on
enrollment and token refresh.

Each limit is a sliding-window counter of the ``limits`` library, kept in Redis (``REDIS_URL``) by
one Lua call per request, so all API processes draw on the same budget. Without ``REDIS_URL``
there is one process, and its memory keeps the counters.

A refusal is :class:`~cloud.errors.RateLimited` (``429``, ``Retry-After``). When Redis does not
answer, the request is refused with :class:`~cloud.errors.LimiterUnavailable` (``503``,
``Retry-After``): letting it through would turn a Redis outage into no limit at all, and a
``401``/``403`` would make a device drop its identity. The client address is the peer's, or, from
a ``TRUSTED_PROXIES`` peer, the one its ``X-Forwarded-For`` names (:func:`proxy_headers`).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, cast

import limits
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from litestar.connection import ASGIConnection
from litestar.types import ASGIApp
from redis.asyncio import Redis
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from cloud.errors import LimiterUnavailable, RateLimited
from cloud.metrics import RATE_LIMITS
from cloud.settings import RateLimitSettings

logger = logging.getLogger(__name__)

REDIS_TIMEOUT_S: Final = 0.5
"""Longest wait for Redis on the request path before the request is answered ``503``."""
UNAVAILABLE_RETRY_AFTER_S: Final = 5
KEY_PREFIX: Final = "ec:limits"
MAX_LEASE: Final = 16
SWEEP_MIN: Final = 1024
DEVICE_RATE_LIMIT_VARS: Final = ("RATE_LIMIT_SYNC", "RATE_LIMIT_ENROLL", "RATE_LIMIT_REFRESH")
"""The settings of the limits devices meet."""
RATE_LIMIT_VARS: Final = (*DEVICE_RATE_LIMIT_VARS, "RATE_LIMIT_LOGIN", "RATE_LIMIT_SERVICE")
"""The settings of the request limits, one per :class:`Scope`."""


class Scope(StrEnum):
    """What a limit counts per: the part of the Redis key before the subject."""

    SYNC = "sync"
    ENROLL = "enroll"
    REFRESH = "refresh"
    LOGIN = "login"
    SERVICE = "service"


def lease_size(item: limits.RateLimitItem) -> int:
    """Requests a process may take from the shared counter at once for a busy subject: a tenth of
    the limit, at most :data:`MAX_LEASE`; 1 (every request counted in Redis) below 20."""
    return max(1, min(MAX_LEASE, item.amount // 10))


@dataclass(slots=True)
class _Local:
    """What this process knows of one subject until ``until`` (epoch seconds)."""

    left: int
    """Requests of a lease taken from the shared counter and not yet spent here."""
    until: float
    consulted: float
    """When this process last asked the shared counter about the subject."""
    refused: bool
    """Over the limit: every request is refused until ``until`` without asking Redis."""


class RateLimiter:
    """The limits of :class:`~cloud.settings.RateLimitSettings` over one storage.

    Each check is one call to the shared counter, except that this process remembers two things
    per subject for a short while: a refusal, until its ``Retry-After`` has passed (so a client
    hammering a spent budget costs no Redis call), and, for a busy subject (asking again sooner
    than a lease's worth of requests takes at the limit's rate), a lease of :func:`lease_size`
    requests taken from the counter in one call and spent within the window. Leases make a
    limit exact to within ``lease_size - 1`` requests per API process for subjects that stop in
    the middle of one; limits below 20 are exact.
    """

    def __init__(self, settings: RateLimitSettings, redis_url: str | None, namespace: str = "") -> None:
        """``namespace`` (the deployment's ``QUEUE_NAME``) keeps the counters of deployments that
        share one Redis apart, as it does their queues."""
        self._storage: Storage
        self._redis: Redis | None = None
        if redis_url:
            # Our own client, so its timeouts are ours and close() can release its connections.
            self._redis = Redis.from_url(
                redis_url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
            )
            self._storage = RedisStorage(
                f"async+{redis_url}",
                implementation="redispy",
                key_prefix=f"{KEY_PREFIX}:{namespace}",
                wrap_exceptions=True,
                connection_pool=self._redis.connection_pool,  # type: ignore[arg-type]  # typed as scalars only
            )
        else:
            self._storage = MemoryStorage()
        self._limiter = SlidingWindowCounterRateLimiter(self._storage)
        rates = {
            Scope.SYNC: settings.sync,
            Scope.ENROLL: settings.enroll,
            Scope.REFRESH: settings.refresh,
            Scope.LOGIN: settings.login,
            Scope.SERVICE: settings.service,
        }
        self._items = {scope: limits.parse(rate) for scope, rate in rates.items() if rate is not None}
        self._lease_sizes = {scope: lease_size(item) for scope, item in self._items.items()}
        # Busy: seen again sooner than a lease's requests would take at the limit's own rate (and
        # at least within a second), so a lease will likely be spent rather than wasted.
        self._busy_s = {
            scope: max(1.0, item.get_expiry() * self._lease_sizes[scope] / item.amount)
            for scope, item in self._items.items()
        }
        self._local: dict[tuple[Scope, str], _Local] = {}
        self._sweep_at = SWEEP_MIN
        self._down = False

    async def check(self, scope: Scope, subject: str) -> None:
        """Count one request of ``subject`` against ``scope``'s limit, or raise if it is over it."""
        item = self._items.get(scope)
        if item is None:
            return
        now = time.time()
        key = (scope, subject)
        local = self._local.get(key)
        if local is not None and now < local.until:
            if local.refused:
                # Refused until the window lets it in again: held without asking Redis.
                RATE_LIMITS.labels(scope, "limited").inc()
                raise RateLimited(
                    f"over the {scope} limit of {item}; retry later", math.ceil(local.until - now)
                )
            if local.left > 0:
                local.left -= 1
                return
        # A busy subject takes a lease of several requests in one call (the counter moves by all of
        # them at once); a quiet one takes exactly one.
        busy = local is not None and not local.refused and now - local.consulted < self._busy_s[scope]
        size = self._lease_sizes[scope] if busy else 1
        try:
            allowed = await self._limiter.hit(item, scope, subject, cost=size)
            if not allowed and size > 1:
                size = 1  # what is left of the budget may be less than a lease
                allowed = await self._limiter.hit(item, scope, subject, cost=1)
            stats = None if allowed else await self._limiter.get_window_stats(item, scope, subject)
        except StorageError as exc:
            RATE_LIMITS.labels(scope, "unavailable").inc()
            if not self._down:
                # Once per outage, not once per refused request.
                self._down = True
                logger.warning("rate limiter cannot reach Redis (%r): answering 503", exc.storage_error)
            raise LimiterUnavailable(
                "the rate limiter cannot reach Redis; retry later", retry_after_s=UNAVAILABLE_RETRY_AFTER_S
            ) from exc
        if self._down:
            self._down = False
            logger.warning("rate limiter reaches Redis again")
        self._forget_expired(now)
        if stats is None:
            # The leased requests were counted now: they may be spent while the window holds them.
            self._local[key] = _Local(
                left=size - 1, until=now + item.get_expiry(), consulted=now, refused=False
            )
            return
        RATE_LIMITS.labels(scope, "limited").inc()
        retry_after_s = max(1, math.ceil(stats.reset_time - now))
        self._local[key] = _Local(left=0, until=now + retry_after_s, consulted=now, refused=True)
        raise RateLimited(f"over the {scope} limit of {item}; retry later", retry_after_s=retry_after_s)

    def _forget_expired(self, now: float) -> None:
        # Swept when the table doubles, so a sweep costs O(1) a request on average.
        if len(self._local) < self._sweep_at:
            return
        self._local = {key: local for key, local in self._local.items() if now < local.until}
        self._sweep_at = max(SWEEP_MIN, 2 * len(self._local))

    async def close(self) -> None:
        """Release the Redis connections (nothing to do for the memory storage)."""
        if self._redis is not None:
            await self._redis.aclose()


def client_address(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The address a per-address limit counts: the peer, or what a trusted proxy forwarded."""
    client = connection.client
    return client.host if client is not None else "unknown"


def proxy_headers(app: ASGIApp, trusted: tuple[str, ...]) -> ASGIApp:
    """Wrap ``app`` so that a request from a ``trusted`` proxy takes its client address from
    ``X-Forwarded-For`` (and scheme from ``X-Forwarded-Proto``): uvicorn's middleware, which picks
    the rightmost address that is not itself a trusted proxy. Nothing trusted: ``app`` as it is."""
    if not trusted:
        return app
    return cast(ASGIApp, ProxyHeadersMiddleware(app, trusted_hosts=list(trusted)))  # type: ignore[arg-type]
