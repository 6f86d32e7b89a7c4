"""Faults the chaos harness injects into one device's ``sync()`` call, and the registry of them.

A fault is armed for exactly one ``sync()`` of one device. It may act before the call
(``before_sync``: stop the server, install a crash hook, move the device clock), on the wire
(``inject``, called for the first request it ``matches``, after ``skip`` matching ones), and after
the call (``after_sync``: start the server again, remove the hook).

Later issues add their faults (worker kill, Redis loss, push errors) with ``@register``; the
schedule generator draws from :data:`FAULTS`, so a registered fault is exercised at once.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

from edge_sdk.crashpoints import CRASHPOINTS, SimulatedCrash, set_crash_hook
from edge_sdk.errors import TransportError
from edge_sdk.sync_client.transport import (
    REFRESH_PATH,
    SYNC_PATH,
    Transport,
    TransportRequest,
    TransportResponse,
)
from tests.support.live_server import LiveServer

Forward = Callable[[TransportRequest], TransportResponse]

SYNC_CRASHPOINTS: tuple[str, ...] = tuple(p for p in CRASHPOINTS if "enroll" not in p)
"""The crash points one ``sync()`` can meet without a rollback (enrollment ones are not reached)."""

_REFRESH_POINTS = frozenset({"after-refresh-before-store", "after-refresh-store"})


class DeviceClock:
    """The device's wall clock: real time plus an offset that faults move forward."""

    def __init__(self, now: Callable[[], int]) -> None:
        self._now = now
        self.offset_ms = 0

    def __call__(self) -> int:
        return self._now() + self.offset_ms

    def jump(self, ms: int) -> None:
        self.offset_ms += ms


@dataclass(slots=True)
class FaultContext:
    """What a fault may touch: the one server of the run and the device it is armed on."""

    server: LiveServer
    clock: DeviceClock
    transport: FaultyTransport
    refresh_jump_ms: int
    """How far to move the device clock so that its next exchange refreshes the access token."""


class Fault:
    """Base of every fault; the defaults do nothing, so a fault overrides only what it needs."""

    name: ClassVar[str] = ""
    weight: ClassVar[float] = 1.0
    """How often schedules draw this fault relative to the others."""
    restarts_server: ClassVar[bool] = False
    path: str = SYNC_PATH
    """Requests to this path are the ones :meth:`inject` sees."""

    def __init__(self, rng: random.Random) -> None:
        # Usually the first matching request; sometimes a later exchange of the same sync
        # (a sync makes at most one refresh, so a refresh fault never skips).
        self._skip = rng.choice((0, 0, 0, 1))
        self.matched = 0
        self.fired = False

    @property
    def skip(self) -> int:
        return 0 if self.path == REFRESH_PATH else self._skip

    def describe(self) -> str:
        return f"{self.name}(path={self.path}, skip={self.skip})"

    def before_sync(self, ctx: FaultContext) -> None:
        if self.path == REFRESH_PATH:
            # The device must think its access token is about to expire for a refresh to happen.
            ctx.clock.jump(ctx.refresh_jump_ms)

    def after_sync(self, ctx: FaultContext) -> None:
        return None

    def on_send(self, ctx: FaultContext, request: TransportRequest, forward: Forward) -> TransportResponse:
        if self.fired or request.path != self.path:
            return forward(request)
        self.matched += 1
        if self.matched <= self.skip:
            return forward(request)
        self.fired = True
        return self.inject(ctx, request, forward)

    def inject(self, ctx: FaultContext, request: TransportRequest, forward: Forward) -> TransportResponse:
        return forward(request)


FAULTS: dict[str, type[Fault]] = {}
"""Every fault by name; schedules draw from it."""


def register(cls: type[Fault]) -> type[Fault]:
    if not cls.name or cls.name in FAULTS:
        raise ValueError(f"fault needs a unique name, got {cls.name!r}")
    FAULTS[cls.name] = cls
    return cls


def _pick_path(rng: random.Random) -> str:
    return rng.choice((SYNC_PATH, SYNC_PATH, SYNC_PATH, REFRESH_PATH))


@register
class LostRequest(Fault):
    """The request never reaches the server."""

    name = "lost_request"

    def __init__(self, rng: random.Random) -> None:
        super().__init__(rng)
        self.path = _pick_path(rng)

    def inject(self, ctx: FaultContext, request: TransportRequest, forward: Forward) -> TransportResponse:
        if request.path == SYNC_PATH:
            # Lost for now: a later reordered delivery may still bring it to the server.
            ctx.transport.held.append(request.body)
        raise TransportError("chaos: request lost")


@register
class LostReply(Fault):
    """The server commits, the device never hears back."""

    name = "lost_reply"

    def __init__(self, rng: random.Random) -> None:
        super().__init__(rng)
        self.path = _pick_path(rng)

    def inject(self, ctx: FaultContext, request: TransportRequest, forward: Forward) -> TransportResponse:
        forward(request)
        raise TransportError("chaos: reply lost")


@register
class LostRefreshReply(Fault):
    """A token refresh is committed (the old refresh token spent) but its reply is lost."""

    name = "lost_refresh_reply"
    path = REFRESH_PATH

    def inject(self, ctx: FaultContext, request: TransportRequest, forward: Forward) -> TransportResponse:
        forward(request)
        raise TransportError("chaos: refresh reply lost")


@register
class DuplicatedDelivery(Fault):
    """The network delivers the request twice; the device sees one of the two replies."""

    name = "duplicate"

    def __init__(self, rng: random.Random) -> None:
        super().__init__(rng)
        self.path = _pick_path(rng)
        self.keep_first = rng.random() < 0.5

    def describe(self) -> str:
        return f"{super().describe()[:-1]}, keep_first={self.keep_first})"

    def inject(self, ctx: FaultContext, request: TransportRequest, forward: Forward) -> TransportResponse:
        first = forward(request)
        second = forward(request)
        return first if self.keep_first else second


@register
class ReorderedDelivery(Fault):
    """An earlier request of this device reaches the server out of order: one a lost-request fault
    swallowed (a delayed delivery) if there is one, else a copy of one already delivered.

    ``late``: the stale request arrives right after the current one; otherwise right before.
    Its reply goes nowhere (the device stopped waiting for it long ago).
    """

    name = "reorder"

    def __init__(self, rng: random.Random) -> None:
        super().__init__(rng)
        self.late = rng.random() < 0.5
        self.pick = rng.random()

    def describe(self) -> str:
        return f"{super().describe()[:-1]}, late={self.late}, pick={self.pick:.2f})"

    def inject(self, ctx: FaultContext, request: TransportRequest, forward: Forward) -> TransportResponse:
        held, earlier = ctx.transport.held, ctx.transport.sync_history
        if held:
            # A request the network swallowed earlier finally arrives.
            stale_body = held.pop(int(self.pick * len(held)))
        elif earlier:
            stale_body = earlier[int(self.pick * len(earlier))]
        else:
            return forward(request)
        # The bearer of the current request: the stale one may have expired meanwhile.
        stale = TransportRequest(request.path, stale_body, request.content_type, request.bearer)
        if self.late:
            reply = forward(request)
            forward(stale)
            return reply
        forward(stale)
        return forward(request)


@register
class DeviceCrash(Fault):
    """The app process dies at a named crash point; the harness reopens the SQLite file."""

    name = "device_crash"
    weight = 2.0  # seven crash points to cover

    def __init__(self, rng: random.Random) -> None:
        super().__init__(rng)
        self.point = rng.choice(SYNC_CRASHPOINTS)
        self.path = REFRESH_PATH if self.point in _REFRESH_POINTS else SYNC_PATH
        # A second occurrence needs a second exchange in the same sync, which is rarer; a sync
        # refreshes at most once and fails at most once.
        once = self.point in _REFRESH_POINTS or self.point == "after-failure-before-backoff"
        self.occurrence = 1 if once else rng.choice((1, 1, 1, 2))

    def describe(self) -> str:
        return f"{self.name}(point={self.point}, occurrence={self.occurrence})"

    def before_sync(self, ctx: FaultContext) -> None:
        super().before_sync(ctx)
        seen = 0

        def hook(point: str) -> None:
            nonlocal seen
            if point == self.point:
                seen += 1
                if seen == self.occurrence:
                    self.fired = True
                    raise SimulatedCrash(point)

        set_crash_hook(hook)

    def on_send(self, ctx: FaultContext, request: TransportRequest, forward: Forward) -> TransportResponse:
        if self.point == "after-failure-before-backoff":
            # That point is only met after a failed send.
            raise TransportError("chaos: request lost before a crash")
        return forward(request)

    def after_sync(self, ctx: FaultContext) -> None:
        set_crash_hook(None)


@register
class ServerDown(Fault):
    """``kill -9`` the server before the sync; it comes back (same data) after the sync failed."""

    name = "server_kill"
    weight = 0.25  # a restart costs ~0.4 s
    restarts_server = True

    def describe(self) -> str:
        return self.name

    def before_sync(self, ctx: FaultContext) -> None:
        ctx.server.kill()

    def after_sync(self, ctx: FaultContext) -> None:
        if not ctx.server.running:
            ctx.server.start()


@register
class ServerCrashAfterCommit(Fault):
    """The server commits a sync and is ``kill -9``-ed before the reply leaves; then restarts."""

    name = "server_kill_after_commit"
    weight = 0.25  # a restart costs ~0.4 s
    restarts_server = True

    def inject(self, ctx: FaultContext, request: TransportRequest, forward: Forward) -> TransportResponse:
        forward(request)
        ctx.server.kill()
        raise TransportError("chaos: server killed before replying")

    def after_sync(self, ctx: FaultContext) -> None:
        if not ctx.server.running:
            ctx.server.start()


class ArmedFault(Protocol):
    def on_send(
        self, ctx: FaultContext, request: TransportRequest, forward: Forward
    ) -> TransportResponse: ...


@dataclass(slots=True)
class FaultyTransport:
    """A :class:`Transport` over the real HTTP one that lets the armed fault intercept each request.

    It outlives the device's client instances (a crash reopens the store with the same transport),
    so the requests it delivered stay available for reordered replays.
    """

    inner: Transport
    ctx: FaultContext | None = None
    fault: ArmedFault | None = None
    sync_history: list[bytes] = field(default_factory=list)
    """Bodies of the sync requests delivered so far, oldest first."""
    held: list[bytes] = field(default_factory=list)
    """Bodies of sync requests lost on the way, which a reordered delivery may still deliver."""
    sent: dict[str, int] = field(default_factory=dict)
    """Requests delivered to the server, by path."""

    def _forward(self, request: TransportRequest) -> TransportResponse:
        response = self.inner.send(request)
        self.sent[request.path] = self.sent.get(request.path, 0) + 1
        if request.path == SYNC_PATH:
            self.sync_history.append(request.body)
        return response

    def send(self, request: TransportRequest) -> TransportResponse:
        if self.fault is None or self.ctx is None:
            return self._forward(request)
        return self.fault.on_send(self.ctx, request, self._forward)

    def close(self) -> None:
        self.inner.close()
