"""Announcing a change the dashboard shows, across processes, without harm when Redis is away.

- :class:`Announcer`: at most one announcement leaves a process every ``MIN_INTERVAL_S`` (the
  dashboard coalesces to one snapshot a second anyway, and its streams refresh every few seconds,
  so a skipped announcement delays a figure, never loses it).
- :func:`publisher`: sends one through Litestar's channels, awaited in a task of its own that
  swallows a failure. The plugin's own ``publish`` queues for a worker task that dies with the
  first Redis error, after which its queue grows without bound and shutdown waits on it forever.
- :class:`ResilientPubSubBackend`: Litestar's Redis pub/sub backend whose event stream outlives a
  Redis outage (the plugin reads it in one task: it would end with the first connection error and
  the process's streams would never hear of a change again). redis-py subscribes again to the
  same channels when it reconnects.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Callable
from typing import Any, Final

from litestar.channels import ChannelsPlugin
from litestar.channels.backends.redis import RedisChannelsPubSubBackend

MIN_INTERVAL_S: Final = 0.5
RETRY_S: Final = 1.0

log = logging.getLogger(__name__)


class Announcer:
    """Calls ``publish`` (which must not block) at most once per ``min_interval_s``."""

    def __init__(
        self,
        publish: Callable[[], None],
        min_interval_s: float = MIN_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._publish = publish
        self._min_interval_s = min_interval_s
        self._clock = clock
        self._last = float("-inf")

    def __call__(self) -> None:
        now = self._clock()
        if now - self._last < self._min_interval_s:
            return
        self._last = now
        try:
            self._publish()
        except Exception:  # a dashboard announcement must never fail a sync
            return


def publisher(channels: ChannelsPlugin, channel: str, data: bytes) -> Callable[[], None]:
    """A ``publish`` for :class:`Announcer`: sends ``data`` on ``channel`` in a task of its own."""
    pending: set[asyncio.Task[None]] = set()  # held until done: the loop keeps only weak references

    async def send() -> None:
        try:
            await channels.wait_published(data, channel)
        except Exception as exc:  # Redis away: the streams still refresh on their own
            log.debug("dashboard announcement failed: %r", exc)

    def publish() -> None:
        task = asyncio.get_running_loop().create_task(send())
        pending.add(task)
        task.add_done_callback(pending.discard)

    return publish


class ResilientPubSubBackend(RedisChannelsPubSubBackend):
    """:class:`RedisChannelsPubSubBackend` whose :meth:`stream_events` survives connection errors."""

    async def stream_events(self) -> AsyncGenerator[tuple[str, Any], None]:
        while True:
            try:
                async for event in super().stream_events():
                    yield event
            except Exception as exc:  # redis-py's errors, connection ones above all
                log.warning("dashboard channel lost (%r); listening again in %.0f s", exc, RETRY_S)
            await asyncio.sleep(RETRY_S)
