"""The live dashboard: the page, its snapshot and its event stream.

- ``GET /dashboard``: the page (HTML, script and style sheet served by the app; nothing from a CDN).
  It holds no data: it asks for the operator's admin token, keeps it in the tab's session storage
  and reads everything below with it.
- ``GET /v1/admin/dashboard``: one snapshot (:class:`DashboardSnapshot`), admin token.
- ``GET /v1/admin/dashboard/stream``: server-sent events, admin token: a ``snapshot`` event at once,
  then one after every change an API process or a worker announces on the dashboard channel
  (Redis pub/sub through Litestar's channels, so it is live whichever API process serves the page),
  at most one a second, and one every ``DASHBOARD_REFRESH_S`` regardless (the rates move without events). A
  request whose ``Origin`` names another host is refused (``403 origin_refused``), unless it is
  one of ``CORS_ALLOW_ORIGINS``: the page is same-origin and no other site's script may read the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import msgspec
from litestar import Controller, Request, Response, get
from litestar.channels import ChannelsPlugin
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import File, ServerSentEvent, ServerSentEventMessage

from cloud.api_docs import problems
from cloud.constants import DASHBOARD_API_PATH, DASHBOARD_PATH
from cloud.deps import ADMIN_SECURITY, DashboardDep, OperatorsDep, PrincipalDep, admin_guard
from cloud.domain.dashboard.schemas import DashboardSnapshot
from cloud.domain.dashboard.services import DashboardService, StreamState
from cloud.errors import OriginRefused

STATIC: Final = Path(__file__).parent / "static"
ASSETS: Final = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}
MIN_INTERVAL_S: Final = 1.0
# The page's own files only; the charts arrive as SVG inside the snapshot.
CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self';"
    " base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_encoder: Final = msgspec.json.Encoder()
logger = logging.getLogger(__name__)


def _check_origin(request: Request[Any, Any, Any]) -> None:
    origin = request.headers.get("origin")
    if origin is None:
        return  # not a cross-site browser request (curl, a same-origin GET that sent none)
    allowed: frozenset[str] = request.app.state.cors_origins
    if urlsplit(origin).netloc != request.headers.get("host", "") and origin not in allowed:
        raise OriginRefused(f"origin {origin[:100]!r} is not this site's")


class DashboardPageController(Controller):
    path = DASHBOARD_PATH
    include_in_schema = False

    @get("/")
    async def page(self) -> Response[bytes]:
        return Response(
            (STATIC / "dashboard.html").read_bytes(),
            media_type="text/html; charset=utf-8",
            headers={"content-security-policy": CSP, "referrer-policy": "no-referrer"},
        )

    @get("/assets/{name:str}")
    async def asset(self, name: FromPath[str]) -> File:
        media_type = ASSETS.get(name)
        if media_type is None:
            raise NotFoundException(f"no dashboard asset {name!r}")
        return File(STATIC / name, media_type=media_type, content_disposition_type="inline")


class DashboardController(Controller):
    path = DASHBOARD_API_PATH
    guards = [admin_guard]
    security = ADMIN_SECURITY
    tags = ["admin", "dashboard"]

    @get("/")
    async def snapshot(self, dashboard: DashboardDep) -> DashboardSnapshot:
        """What the dashboard shows now (the rates need a stream: ``null`` here)."""
        return await dashboard.snapshot()

    @get("/stream", responses=problems(403), media_type="text/event-stream")
    async def stream(
        self,
        request: Request[Any, Any, Any],
        dashboard: DashboardDep,
        operators: OperatorsDep,
        principal: PrincipalDep,
    ) -> ServerSentEvent:
        """``snapshot`` events: one now, then after changes (at most one a second) and every 5 s.
        The stream ends when its credential does (a logout, a disable, an expiry)."""
        _check_origin(request)
        channels = request.app.plugins.get(ChannelsPlugin)
        channel: str = request.app.state.dashboard_channel
        refresh_s: float = request.app.state.dashboard_refresh_s

        async def live() -> bool:
            return await operators.still_live(principal)

        return ServerSentEvent(_events(dashboard, channels, channel, refresh_s, live))


async def _events(
    dashboard: DashboardService,
    channels: ChannelsPlugin,
    channel: str,
    refresh_s: float,
    live: Callable[[], Awaitable[bool]],
) -> AsyncGenerator[ServerSentEventMessage, None]:
    state = StreamState()
    changed = asyncio.Event()

    async def on_event(_: bytes) -> None:
        changed.set()

    try:
        subscriber = await channels.subscribe(channel)
    except Exception as exc:  # Redis away: this stream refreshes on its clock only
        logger.warning("dashboard stream without announcements (%r)", exc)
        while await live():
            yield ServerSentEventMessage(data=_encode(await dashboard.snapshot(state)), event="snapshot")
            await asyncio.sleep(refresh_s)
        return
    try:
        async with subscriber.run_in_background(on_event, join=False):
            while True:
                started = time.monotonic()
                # Cleared before reading: a change announced while the snapshot is computed or
                # sent brings the next one.
                changed.clear()
                if not await live():
                    return  # the credential ended: so does the stream (the page signs in again)
                snapshot = await dashboard.snapshot(state)
                yield ServerSentEventMessage(data=_encode(snapshot), event="snapshot")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), refresh_s)
                # Coalesce a burst of changes into one snapshot a second.
                await asyncio.sleep(max(0.0, MIN_INTERVAL_S - (time.monotonic() - started)))
    finally:
        await channels.unsubscribe(subscriber)


def _encode(snapshot: DashboardSnapshot) -> str:
    return _encoder.encode(snapshot).decode()
