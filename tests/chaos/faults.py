"""Faults the chaos harness injects into one device's ``sync()`` call, and the registry of them.

A fault is armed for exactly one ``sync()`` of one device. It may act before the call
(``before_sync``: stop the server, install a crash hook, move the device clock), on the wire
(``inject``, called for the first request it ``matches``, after ``skip`` matching ones), and after
the call (``after_sync``: start the server again, remove the hook).

Faults register with ``@register``; the schedule generator draws from :data:`FAULTS`, so a
registered fault is exercised at once. Faults that only matter where offers are answered (worker
kill, Redis loss, FCM errors) set ``needs_offers`` and are drawn in schedules with offers only.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

import redis

from edge_sdk.crashpoints import CRASHPOINTS, SimulatedCrash, set_crash_hook
from edge_sdk.errors import TransportError
from edge_sdk.sync_client.transport import (
    REFRESH_PATH,
    SYNC_PATH,
    Transport,
    TransportRequest,
    TransportResponse,
)
from tests.support.api_group import ApiGroup
from tests.support.fake_fcm import FakeFcm
from tests.support.live_server import LiveServer
from tests.support.worker import WorkerProcess

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


def kill_targets(pick: float, count: int) -> list[int]:
    """The processes a kill drawn as ``pick`` (in [0, 1)) hits among ``count``: one of them, or
    all of them (the last of ``count + 1`` equal shares)."""
    index = min(int(pick * (count + 1)), count)
    return list(range(count)) if index == count else [index]


@dataclass(slots=True)
class ChaosEnv:
    """The run's processes and fakes: the API (one process, or a group behind a balancer), the
    workers, a private Redis and the fake FCM.

    The armed token sets are what the FCM faults did to the fake, for the invariants to read.
    """

    server: LiveServer | ApiGroup
    workers: list[WorkerProcess]
    redis_url: str
    fcm: FakeFcm
    unregistered: set[str] = field(default_factory=set)
    """Tokens the fake answers ``UNREGISTERED`` (404) from now on."""
    quota: set[str] = field(default_factory=set)
    """Tokens the fake answers ``QUOTA_EXCEEDED`` (429) once."""
    outbox_seen: int = 0
    """Highest outbox id a schedule has seen so far (the next schedule's rows are above it)."""
    kills: list[str] = field(default_factory=list)
    """What the kill faults of the running schedule killed, for its trace."""

    def flush_redis(self) -> None:
        """``FLUSHALL``: Redis restarted without persistence; queued jobs and results are gone."""
        client = redis.Redis.from_url(self.redis_url)
        try:
            client.flushall()
        finally:
            client.close()

    # --- API processes ---------------------------------------------------------------

    @property
    def api_count(self) -> int:
        return len(self.server.servers) if isinstance(self.server, ApiGroup) else 1

    def kill_api(self, pick: float, *, serving: bool = False) -> None:
        """``kill -9`` the API process(es) ``pick`` draws; with ``serving``, the one that answered
        the latest request, and every other one too when the draw says all."""
        if not isinstance(self.server, ApiGroup):
            self.server.kill()
            self.kills.append("killed the API process")
            return
        count = self.api_count
        targets = kill_targets(pick, count)
        last = self.server.balancer.last_backend
        if serving and last is not None and len(targets) == 1:
            targets = [last]
        for index in targets:
            self.server.kill(index)
        self.kills.append(f"killed API process(es) {[i + 1 for i in targets]} of {count}")

    def restart_api(self) -> None:
        """Start every API process a fault killed (same data, same port)."""
        if not self.server.running:
            self.server.start()

    # --- workers ---------------------------------------------------------------------

    def kill_worker(self, pick: float) -> None:
        """SIGKILL the worker(s) ``pick`` draws."""
        targets = kill_targets(pick, len(self.workers))
        for index in targets:
            self.workers[index].kill()
        self.kills.append(f"killed worker(s) {[i + 1 for i in targets]} of {len(self.workers)}")

    def dead_workers(self) -> list[tuple[int, int | None]]:
        """Workers that exited although nothing stopped them: (number, exit code)."""
        return [
            (i + 1, worker.proc.returncode)
            for i, worker in enumerate(self.workers)
            if not worker.stopped and worker.proc is not None and worker.proc.poll() is not None
        ]

    def ensure_workers(self) -> None:
        """Start every worker that is not running (it boots while the run goes on)."""
        for worker in self.workers:
            proc = worker.proc
            if worker.stopped or proc is None or proc.poll() is not None:
                worker.start()

    def worker_log_tail(self, lines: int = 40) -> str:
        return "\n".join(
            f"[worker-{i + 1}]\n" + "\n".join(worker.log().splitlines()[-lines:])
            for i, worker in enumerate(self.workers)
        )


@dataclass(slots=True)
class FaultContext:
    """What a fault may touch: the run's processes and fakes, and the device it is armed on."""

    server: LiveServer | ApiGroup
    clock: DeviceClock
    transport: FaultyTransport
    refresh_jump_ms: int
    """How far to move the device clock so that its next exchange refreshes the access token."""
    env: ChaosEnv
    tokens: list[str]
    """Push tokens the device registered, oldest first (the same list the harness appends to)."""


class Fault:
    """Base of every fault; the defaults do nothing, so a fault overrides only what it needs."""

    name: ClassVar[str] = ""
    weight: ClassVar[float] = 1.0
    """How often schedules draw this fault relative to the others."""
    restarts_server: ClassVar[bool] = False
    needs_offers: ClassVar[bool] = False
    """Only drawn in schedules with offers: it acts on the worker, the queue or pushes."""
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


class ProcessKill(Fault):
    """A fault that ``kill -9``s processes. Which ones, where there are several (the PostgreSQL run
    has two API processes and two workers), is ``pick``: drawn by the schedule from a random
    stream of its own, so that adding it changed no schedule's other draws."""

    pick: float = 0.0

    def describe(self) -> str:
        return f"{self.name}(pick={self.pick:.2f})"


@register
class ServerDown(ProcessKill):
    """``kill -9`` an API process before the sync (or all of them); it comes back (same data)
    after the sync. With another process still up, the balancer sends the sync there."""

    name = "server_kill"
    weight = 0.25  # a restart costs ~0.4 s
    restarts_server = True

    def before_sync(self, ctx: FaultContext) -> None:
        ctx.env.kill_api(self.pick)

    def after_sync(self, ctx: FaultContext) -> None:
        ctx.env.restart_api()


@register
class ServerCrashAfterCommit(ProcessKill):
    """The API process that committed a sync is ``kill -9``-ed before the reply leaves (with the
    other processes too, when ``pick`` says all); then restarts."""

    name = "server_kill_after_commit"
    weight = 0.25  # a restart costs ~0.4 s
    restarts_server = True

    def describe(self) -> str:
        return f"{self.name}(path={self.path}, skip={self.skip}, pick={self.pick:.2f})"

    def inject(self, ctx: FaultContext, request: TransportRequest, forward: Forward) -> TransportResponse:
        forward(request)
        ctx.env.kill_api(self.pick, serving=True)
        raise TransportError("chaos: server killed before replying")

    def after_sync(self, ctx: FaultContext) -> None:
        ctx.env.restart_api()


@register
class WorkerKill(ProcessKill):
    """SIGKILL a worker (or all of them, by ``pick``) around a sync that usually carries an
    acceptance; started again after it.

    ``before``: the worker is down while the acceptance commits, so the API's job waits in Redis
    for the next worker (or another one takes it). Otherwise it is killed the moment the server
    replied (committed and enqueued), possibly in the middle of the job; arq keeps that job locked
    for its timeout, so the relay's next attempt is what applies the offer.
    """

    name = "worker_kill"
    weight = 0.3  # the worker boots again in about a second, on the same two cores
    needs_offers = True

    def __init__(self, rng: random.Random) -> None:
        super().__init__(rng)
        self._skip = 0
        self.before = rng.random() < 0.5

    def describe(self) -> str:
        return f"{self.name}(at={'before_sync' if self.before else 'after_commit'}, pick={self.pick:.2f})"

    def before_sync(self, ctx: FaultContext) -> None:
        if self.before:
            self.fired = True
            ctx.env.kill_worker(self.pick)

    def inject(self, ctx: FaultContext, request: TransportRequest, forward: Forward) -> TransportResponse:
        reply = forward(request)
        if not self.before:
            ctx.env.kill_worker(self.pick)
        return reply

    def after_sync(self, ctx: FaultContext) -> None:
        ctx.env.ensure_workers()


@register
class RedisLoss(Fault):
    """Redis loses all its data (``FLUSHALL``) right after the server committed the sync.

    The acceptance's job, enqueued by the API after its commit, is gone with everything else in
    Redis; the outbox row is still pending, so the relay enqueues its next attempt.
    """

    name = "redis_loss"
    weight = 0.5
    needs_offers = True

    def __init__(self, rng: random.Random) -> None:
        super().__init__(rng)
        self._skip = 0

    def describe(self) -> str:
        return self.name

    def inject(self, ctx: FaultContext, request: TransportRequest, forward: Forward) -> TransportResponse:
        reply = forward(request)
        ctx.env.flush_redis()
        return reply


@register
class FcmUnregistered(Fault):
    """From this sync on, FCM answers the device's latest push token ``UNREGISTERED`` (404).

    The worker must deactivate the token at its first push to it and never send to it again.
    """

    name = "fcm_404"
    weight = 0.5
    needs_offers = True

    def describe(self) -> str:
        return self.name

    def before_sync(self, ctx: FaultContext) -> None:
        if ctx.tokens:
            self.fired = True
            ctx.env.fcm.fail(ctx.tokens[-1], "UNREGISTERED")
            ctx.env.unregistered.add(ctx.tokens[-1])


@register
class FcmQuota(Fault):
    """FCM answers the next push to the device's latest token ``QUOTA_EXCEEDED`` (429), once.

    The push row must stay pending with a back-off and reach the token on a later attempt.
    """

    name = "fcm_429"
    weight = 0.5
    needs_offers = True

    def describe(self) -> str:
        return self.name

    def before_sync(self, ctx: FaultContext) -> None:
        if ctx.tokens:
            self.fired = True
            ctx.env.fcm.fail(ctx.tokens[-1], "QUOTA_EXCEEDED", times=1)
            ctx.env.quota.add(ctx.tokens[-1])


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
