"""Accepted offers through the outbox, arq and one worker: latency to applied and to push sent.

Set-up (not timed): a temporary folder holding the SQLite file and a private embedded Redis; one
API process (``uvicorn --factory cloud.app:create_app``) and one worker process
(``python -m cloud.workers``) on them, with the log push sender (no Firebase credentials, so every
push is a ``push_attempts`` row) and a relay timeout far longer than the run, so the API's enqueue
right after its commit does all the work. ``--offers`` users each get a profile, one enrolled
device, the ``push`` consent and a push token (``SetConsent`` and ``RegisterPushToken`` through
``/v1/sync``) and one offer (admin API).

The burst: every device sends its ``AcceptOffer`` through ``/v1/sync`` (msgpack), from
``--concurrency`` keep-alive clients at once. Latencies come from the times the processes record
(all share this machine's clock): the ``accepted`` and ``applied`` audit events, the first ``sent``
push attempt of the user, and arq's enqueue and start times of each ``apply_offer`` job. The
database is read with a separate read-only connection while the worker writes.

The floor, in the same run, on the same Redis and the same worker process (so the same arq
settings): ``--pings`` no-op ``ping`` jobs, first one at a time (a random pause before each, so the
enqueues fall at random points of the worker's poll cycle), then all at once; enqueue-to-start is
read from arq's result record of each job.

Figures belong to this machine (client, API, worker and Redis share its cores); nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx
from rich.console import Console
from rich.table import Table

from bench.sync_ingest import ADMIN_TOKEN, MSGPACK_HEADERS, BenchError, cpu_seconds, serve
from cloud.constants import ADMIN_PREFIX, ENROLL_PATH, HEALTH_LIVE_PATH, QUEUE_NAME, SYNC_PATH
from cloud.embedded_redis import EmbeddedRedis, free_port, popen_child, stop_process
from cloud.outbox.enqueue import outbox_job_id
from cloud.outbox.kinds import APPLY_OFFER, SEND_PUSH
from cloud.push.messages import PushOutcome
from cloud.queue import JobTiming, Queue, create_queue
from cloud.ratelimit import RATE_LIMIT_VARS
from cloud.settings import DatabaseSettings, load_settings
from cloud.store import Store, open_store
from cloud.store.records import OutboxState
from sync.codec import MediaType, decode_reply, decode_request, decode_tokens, encode
from sync.limits import PROTOCOL_VERSION
from sync.messages import (
    AcceptOffer,
    AnyMutation,
    ConsentScope,
    EnrollRequest,
    OfferStatus,
    Platform,
    RegisterPushToken,
    SetConsent,
    SyncRequest,
)

LIMIT_CENTS: Final = 100_000
PROFILE: Final = {"currency": "EUR", "limit_cents": LIMIT_CENTS, "used_cents": 25_000, "rate_bps": 1_990}
OFFER_DAYS: Final = 14
WORKER_READY_S: Final = 60.0
POLL_S: Final = 0.2
PING_PAUSE_S: Final = 0.2
"""Longest random pause before each lone ping: longer than the worker's poll delay (`WORKER_POLL_DELAY_S`)."""
FCM_VARIABLES: Final = ("FCM_CREDENTIALS_FILE", "FCM_PROJECT_ID", "FCM_ENDPOINT")
DEFAULT_POLL_DELAY_S: Final = load_settings({}).jobs.poll_delay_s
IDLE_S: Final = 5.0
"""Seconds the idle workers' CPU is measured over."""


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (the same definition as the sync benchmark); NaN when empty."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else float("nan")


def _expect(reply: httpx.Response, status: int) -> Any:
    if reply.status_code != status:
        raise BenchError(
            f"{reply.request.method} {reply.request.url}: {reply.status_code} {reply.text[:300]}"
        )
    return reply.json() if reply.headers.get("content-type", "").endswith("json") else None


async def _bounded(concurrency: int, jobs: Sequence[Callable[[], Awaitable[Any]]]) -> list[Any]:
    """Run ``jobs`` with at most ``concurrency`` in flight; results in order."""
    gate = asyncio.Semaphore(concurrency)

    async def one(job: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await job()

    return await asyncio.gather(*(one(job) for job in jobs))


# --- processes -----------------------------------------------------------------------------------


@contextmanager
def worker_process(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m cloud.workers`` until the block ends (SIGTERM, its normal stop)."""
    with log.open("wb") as out:
        proc = popen_child(
            [sys.executable, "-m", "cloud.workers"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            yield proc
        finally:
            stop_process(proc, timeout_s=10)


async def _migrate(database: DatabaseSettings) -> None:
    store = await open_store(database)
    try:
        await store.migrate()
    finally:
        await store.close()


# --- set-up --------------------------------------------------------------------------------------


@dataclass
class Account:
    """One user with one enrolled device and one offer, ready to accept it."""

    user_id: str
    device_id: str
    access_token: str
    offer_id: str
    cursor: str | None


def _sync_body(device_id: str, push: list[AnyMutation], cursor: str | None) -> bytes:
    request = SyncRequest(
        protocol=PROTOCOL_VERSION, device_id=device_id, device_time=now_ms(), push=push, cursor=cursor
    )
    return encode(request, MediaType.MSGPACK)


async def _sync(client: httpx.AsyncClient, account: Account, body: bytes) -> str | None:
    """One sync whose every mutation must be applied; returns the reply's cursor."""
    reply = await client.post(
        SYNC_PATH,
        content=body,
        headers={**MSGPACK_HEADERS, "Authorization": f"Bearer {account.access_token}"},
    )
    if reply.status_code != 200:
        raise BenchError(f"sync of device {account.device_id}: {reply.status_code} {reply.text[:300]}")
    decoded = decode_reply(reply.content, MediaType.MSGPACK)
    pushed = len(decode_request(body, MediaType.MSGPACK).push)
    applied = [r for r in decoded.results if r.status == "applied" and not r.replay]
    if decoded.expected_seq is not None or len(applied) != pushed:
        raise BenchError(f"device {account.device_id}: {pushed} pushed, not all applied: {decoded.results}")
    return decoded.cursor


async def _new_account(client: httpx.AsyncClient, index: str) -> Account:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    user = _expect(
        await client.post(
            f"{ADMIN_PREFIX}/users", json={"external_ref": f"bench-offer-{index}"}, headers=admin
        ),
        201,
    )
    user_id: str = user["user_id"]
    code = _expect(
        await client.post(f"{ADMIN_PREFIX}/users/{user_id}/enrollment-codes", json={}, headers=admin), 201
    )
    body = encode(EnrollRequest(code=code["code"], platform=Platform.ANDROID), MediaType.JSON)
    enrolled = await client.post(ENROLL_PATH, content=body, headers={"Content-Type": "application/json"})
    _expect(enrolled, 201)
    tokens = decode_tokens(enrolled.content, MediaType.JSON)
    _expect(await client.post(f"{ADMIN_PREFIX}/users/{user_id}/profile", json=PROFILE, headers=admin), 200)
    terms = {
        "new_limit_cents": LIMIT_CENTS + 50_000,
        "rate_bps": 1_790,
        "term_months": 12,
        "expires_at": now_ms() + OFFER_DAYS * 86_400_000,
        "reason_codes": ["RISK_BAND_B"],
        "policy_version": "bench",
    }
    offer = _expect(
        await client.post(f"{ADMIN_PREFIX}/users/{user_id}/offers", json=terms, headers=admin), 201
    )
    account = Account(user_id, tokens.device_id, tokens.access_token, offer["offer"]["offer_id"], None)
    # The device grants push, registers its token and sees the offer, as a phone would before accepting.
    push: list[AnyMutation] = [
        SetConsent(seq=1, created_at=now_ms(), scope=ConsentScope.PUSH, granted=True),
        RegisterPushToken(
            seq=2, created_at=now_ms(), token=f"bench-token-{index}", platform=Platform.ANDROID
        ),
    ]
    account.cursor = await _sync(client, account, _sync_body(account.device_id, push, None))
    return account


async def set_up(base: str, count: int, concurrency: int, label: str = "burst") -> list[Account]:
    """``count`` accounts, created ``concurrency`` at a time; ``label`` keeps their names apart."""
    async with httpx.AsyncClient(base_url=base, timeout=30.0) as client:
        jobs = [lambda i=i: _new_account(client, f"{label}-{i}") for i in range(count)]
        return await _bounded(concurrency, jobs)


# --- the burst -----------------------------------------------------------------------------------


async def accept_burst(base: str, accounts: list[Account], concurrency: int) -> dict[str, int]:
    """Every account accepts its offer; returns offer id → client time (ms) its sync reply arrived."""
    created = now_ms()
    bodies = [
        _sync_body(a.device_id, [AcceptOffer(seq=3, created_at=created, offer_id=a.offer_id)], a.cursor)
        for a in accounts
    ]
    pending = list(zip(accounts, bodies, strict=True))
    replied: dict[str, int] = {}

    async def drain(client: httpx.AsyncClient) -> None:
        while pending:
            account, body = pending.pop()
            await _sync(client, account, body)
            replied[account.offer_id] = now_ms()

    clients = [httpx.AsyncClient(base_url=base, timeout=30.0) for _ in range(concurrency)]
    try:
        # Connect every client first, so the burst does not pay for it.
        for reply in await asyncio.gather(*(c.get(HEALTH_LIVE_PATH) for c in clients)):
            _expect(reply, 200)
        await asyncio.gather(*(drain(c) for c in clients))
    finally:
        for client in clients:
            await client.aclose()
    return replied


@dataclass
class OfferTimes:
    accepted_ms: int
    """The ``accepted`` audit event: the server's time when the sync request carrying it arrived."""
    applied_ms: int
    """The ``applied`` audit event: the worker's time when ``apply_offer`` began its transaction."""
    push_sent_ms: int
    """The first ``sent`` push attempt of the user (written after the sender answered)."""


@dataclass
class OutboxSummary:
    rows: int
    requeued: int
    """Rows the relay had to enqueue again (attempts above 0: the API's enqueue is attempt 0)."""
    dead: int
    pending: int
    apply_rows: list[int]
    """Outbox ids of the ``apply_offer`` rows, for their arq timings."""
    push_rows: list[int]
    """Outbox ids of the ``send_push`` rows."""


async def read_times(
    store: Store, accounts: list[Account], known: dict[str, OfferTimes]
) -> dict[str, OfferTimes]:
    """Times of the offers applied and notified so far, read through the store (any engine);
    ``known`` (offers already done) is not read again."""
    for account in accounts:
        if account.offer_id in known:
            continue
        events = {e.to_status: e.at for e in await store.audit_trail(offer_id=account.offer_id)}
        accepted = events.get(OfferStatus.ACCEPTED.value)
        applied = events.get(OfferStatus.APPLIED.value)
        if accepted is None or applied is None:
            continue
        sent = [
            a.at for a in await store.push_attempts(account.user_id) if a.outcome == PushOutcome.SENT.value
        ]
        if sent:
            known[account.offer_id] = OfferTimes(int(accepted), int(applied), int(min(sent)))
    return known


async def read_outbox(store: Store) -> OutboxSummary:
    rows = await store.list_outbox()
    return OutboxSummary(
        rows=len(rows),
        requeued=sum(1 for r in rows if r.attempts > 0),
        dead=sum(1 for r in rows if r.state == OutboxState.DEAD),
        pending=sum(1 for r in rows if r.state == OutboxState.PENDING),
        apply_rows=[r.outbox_id for r in rows if r.kind == APPLY_OFFER],
        push_rows=[r.outbox_id for r in rows if r.kind == SEND_PUSH],
    )


async def wait_done(store: Store, accounts: list[Account], max_s: float) -> dict[str, OfferTimes]:
    """Poll until every offer is applied and its push sent; raises :class:`BenchError` at ``max_s``."""
    deadline = time.monotonic() + max_s
    times: dict[str, OfferTimes] = {}
    while len(await read_times(store, accounts, times)) < len(accounts):
        if time.monotonic() > deadline:
            state = await read_outbox(store)
            raise BenchError(
                f"after {max_s} s only {len(times)}/{len(accounts)} offers applied and notified; "
                f"outbox: {state.pending} pending, {state.dead} dead, {state.requeued} re-enqueued"
            )
        await asyncio.sleep(POLL_S)
    return times


# --- open loop -----------------------------------------------------------------------------------


@dataclass
class OpenLoop:
    """Accepts sent at a fixed rate, each at its own time whatever the replies before it."""

    rate: float
    """Accepts per second asked for."""
    seconds: float
    sent_per_s: float
    """Accepts per second achieved: offers over first to last ``accepted`` event."""
    late_ms: list[float]
    """How late each send left the client against its schedule (a client that cannot keep up)."""
    accept_to_applied_ms: list[float]
    accept_to_push_ms: list[float]


async def open_loop(base: str, accounts: list[Account], rate: float) -> list[float]:
    """Send account ``i``'s acceptance at ``start + i / rate``; returns each send's lateness (ms)."""
    loop = asyncio.get_running_loop()
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(base_url=base, timeout=30.0, limits=limits) as client:
        _expect(await client.get(HEALTH_LIVE_PATH), 200)
        start = loop.time() + 0.2

        async def send(i: int, account: Account) -> float:
            due = start + i / rate
            await asyncio.sleep(max(0.0, due - loop.time()))
            late = (loop.time() - due) * 1000
            created = now_ms()
            accept = AcceptOffer(seq=3, created_at=created, offer_id=account.offer_id)
            await _sync(client, account, _sync_body(account.device_id, [accept], account.cursor))
            return late

        return await asyncio.gather(*(send(i, a) for i, a in enumerate(accounts)))


async def _open_loops(
    api: str,
    database: DatabaseSettings,
    rates: Sequence[float],
    seconds: float,
    concurrency: int,
    max_s: float,
) -> list[OpenLoop]:
    """One open loop per rate, each on accounts of its own made just before it (not timed)."""
    store = await open_store(database)
    figures = []
    try:
        for rate in rates:
            batch = await set_up(api, max(2, round(rate * seconds)), concurrency, f"open-{rate:g}")
            late = await open_loop(api, batch, rate)
            times = await wait_done(store, batch, max_s)
            ordered = [times[a.offer_id] for a in batch]
            span_s = max(max(t.accepted_ms for t in ordered) - min(t.accepted_ms for t in ordered), 1) / 1000
            figures.append(
                OpenLoop(
                    rate=rate,
                    seconds=seconds,
                    sent_per_s=(len(batch) - 1) / span_s if len(batch) > 1 else float(rate),
                    late_ms=late,
                    accept_to_applied_ms=[t.applied_ms - t.accepted_ms for t in ordered],
                    accept_to_push_ms=[t.push_sent_ms - t.accepted_ms for t in ordered],
                )
            )
    finally:
        await store.close()
    return figures


# --- the floor -----------------------------------------------------------------------------------


async def _timing(queue: Queue, job_id: str) -> JobTiming:
    timing = await queue.timing(job_id)
    if timing is None or not timing.success:
        raise BenchError(f"job {job_id}: no successful result kept ({timing})")
    return timing


async def lone_pings(queue: Queue, count: int) -> list[JobTiming]:
    """``count`` pings, each enqueued once the previous one finished, after a random pause."""
    rng = random.Random(4)
    timings = []
    for i in range(count):
        await asyncio.sleep(rng.uniform(0, PING_PAUSE_S))
        job_id = await queue.enqueue("ping", i, job_id=f"bench-lone-{i}")
        if job_id is None:
            raise BenchError(f"ping {i} was not enqueued")
        await queue.result(job_id, timeout_s=30.0)
        timings.append(await _timing(queue, job_id))
    return timings


async def ping_burst(queue: Queue, count: int) -> list[JobTiming]:
    """``count`` pings enqueued at once (one after the other, as fast as Redis answers)."""
    job_ids = [f"bench-burst-{i}" for i in range(count)]
    for i, job_id in enumerate(job_ids):
        if await queue.enqueue("ping", i, job_id=job_id) is None:
            raise BenchError(f"ping {job_id} was not enqueued")
    for job_id in job_ids:
        await queue.result(job_id, timeout_s=60.0)
    return [await _timing(queue, job_id) for job_id in job_ids]


# --- one run -------------------------------------------------------------------------------------


@dataclass
class Figures:
    offers: int
    concurrency: int
    accept_to_applied_ms: list[float]
    accept_to_push_ms: list[float]
    reply_to_applied_ms: list[float]
    """From the sync reply's arrival at the client: negative when the worker was faster."""
    apply_wait_ms: list[float]
    """arq enqueue → start of each ``apply_offer`` job (the API's enqueue, attempt 0)."""
    apply_run_ms: list[float]
    """arq start → finish of each ``apply_offer`` job."""
    push_wait_ms: list[float]
    """arq enqueue → start of each ``send_push`` job (enqueued by its ``apply_offer`` job)."""
    accepted_per_s: float
    """Arrival rate of the burst at the API: offers over first to last ``accepted`` event."""
    applied_per_s: float
    burst_s: float
    """First accept to last applied."""
    outbox: OutboxSummary
    lone_ping_wait_ms: list[float]
    burst_ping_wait_ms: list[float]
    pings_per_s: float
    engine: str = "sqlite"
    workers: int = 1
    open_loops: list[OpenLoop] = dataclasses.field(default_factory=list)
    poll_delay_s: float = DEFAULT_POLL_DELAY_S
    idle_worker_cpu: float = 0.0
    """Share of one CPU an idle worker spends (polling Redis at ``poll_delay_s``), per worker."""


async def _measure(
    api: str,
    redis_url: str,
    database: DatabaseSettings,
    offers: int,
    pings: int,
    concurrency: int,
    max_s: float,
    rates: Sequence[float] = (),
    seconds: float = 0.0,
) -> Figures:
    queue = await create_queue(redis_url, QUEUE_NAME)
    store = await open_store(database)
    try:
        # The worker is up once it runs a job; this also warms up its connections.
        if await queue.enqueue("ping", "warm-up", job_id="bench-warm-up") is None:
            raise BenchError("the warm-up ping was not enqueued")
        await queue.result("bench-warm-up", timeout_s=WORKER_READY_S)
        accounts = await set_up(api, offers, concurrency)
        lone = await lone_pings(queue, pings)
        replied = await accept_burst(api, accounts, concurrency)
        times = await wait_done(store, accounts, max_s)
        outbox = await read_outbox(store)
        apply_jobs = [await _timing(queue, outbox_job_id(o, 0)) for o in outbox.apply_rows]
        push_jobs = [await _timing(queue, outbox_job_id(o, 0)) for o in outbox.push_rows]
        burst = await ping_burst(queue, pings)
    finally:
        await queue.close()
        await store.close()
    ordered = [times[a.offer_id] for a in accounts]
    first_accept = min(t.accepted_ms for t in ordered)
    last_applied = max(t.applied_ms for t in ordered)
    burst_s = max(last_applied - first_accept, 1) / 1000
    accept_s = max(max(t.accepted_ms for t in ordered) - first_accept, 1) / 1000
    pings_s = max(max(t.finished_ms for t in burst) - min(t.enqueued_ms for t in burst), 1) / 1000
    open_loops = await _open_loops(api, database, rates, seconds, concurrency, max_s) if rates else []
    return Figures(
        open_loops=open_loops,
        offers=offers,
        concurrency=concurrency,
        accept_to_applied_ms=[t.applied_ms - t.accepted_ms for t in ordered],
        accept_to_push_ms=[t.push_sent_ms - t.accepted_ms for t in ordered],
        reply_to_applied_ms=[times[a.offer_id].applied_ms - replied[a.offer_id] for a in accounts],
        apply_wait_ms=[t.started_ms - t.enqueued_ms for t in apply_jobs],
        apply_run_ms=[t.finished_ms - t.started_ms for t in apply_jobs],
        push_wait_ms=[t.started_ms - t.enqueued_ms for t in push_jobs],
        accepted_per_s=offers / accept_s,
        applied_per_s=offers / burst_s,
        burst_s=burst_s,
        outbox=outbox,
        lone_ping_wait_ms=[t.started_ms - t.enqueued_ms for t in lone],
        burst_ping_wait_ms=[t.started_ms - t.enqueued_ms for t in burst],
        pings_per_s=pings / pings_s,
    )


def run(
    offers: int,
    pings: int,
    concurrency: int,
    max_s: float,
    relay_timeout_s: float,
    database_url: str | None = None,
    workers: int = 1,
    rates: Sequence[float] = (),
    seconds: float = 0.0,
    poll_delay_s: float = DEFAULT_POLL_DELAY_S,
    idle_s: float = IDLE_S,
) -> Figures:
    """Start Redis, the API and ``workers`` workers in a temporary folder, measure, and stop them all.

    ``database_url`` runs them on that (scratch) database instead of a new SQLite file; ``rates``
    adds an open-loop run of ``seconds`` at each rate; workers poll at ``poll_delay_s``.
    """
    with tempfile.TemporaryDirectory(prefix="ec-bench-offers-") as tmp, ExitStack() as stack:
        folder = Path(tmp)
        database = DatabaseSettings(database_url or f"sqlite:///{folder / 'cloud.sqlite3'}")
        redis = stack.enter_context(EmbeddedRedis(folder / "redis"))
        asyncio.run(_migrate(database))
        env = {k: v for k, v in os.environ.items() if k not in FCM_VARIABLES}
        env |= {
            "DATA_DIR": str(folder),
            "DATABASE_URL": database.url,
            "REDIS_URL": redis.url,
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "ENV": "development",
            "QUEUE_NAME": QUEUE_NAME,
            "OUTBOX_RELAY_TIMEOUT_S": str(relay_timeout_s),
            "OUTBOX_RELAY_INTERVAL_S": "1",
            "WORKER_POLL_DELAY_S": str(poll_delay_s),
            # The limiter runs, with limits the run never reaches: it enrolls every user's device
            # from 127.0.0.1 within seconds.
            **dict.fromkeys(RATE_LIMIT_VARS, "1000000/minute"),
        }
        api = stack.enter_context(serve("api", "cloud.app:create_app", free_port(), env, folder / "api.log"))
        procs = [stack.enter_context(worker_process(env, folder / f"worker{n}.log")) for n in range(workers)]
        idle = idle_cpu(procs, api, idle_s)
        figures = asyncio.run(
            _measure(api, redis.url, database, offers, pings, concurrency, max_s, rates, seconds)
        )
        for proc in procs:
            if proc.poll() is not None:
                raise BenchError(f"a worker exited with {proc.returncode} during the run")
    return dataclasses.replace(
        figures,
        engine=database.url.split(":", 1)[0],
        workers=workers,
        poll_delay_s=poll_delay_s,
        idle_worker_cpu=idle,
    )


def idle_cpu(procs: Sequence[subprocess.Popen[bytes]], api: str, seconds: float = IDLE_S) -> float:
    """Share of one CPU each worker spends while nothing is queued (its polling), averaged; waits
    until the first worker answers a health probe of the API's queue first."""
    with httpx.Client(base_url=api, timeout=10.0) as client:
        _expect(client.get(HEALTH_LIVE_PATH), 200)
    time.sleep(min(2.0, seconds))  # start-up done (imports, migrations, first relay pass)
    before = [cpu_seconds(p.pid) for p in procs]
    time.sleep(seconds)
    spent = [cpu_seconds(p.pid) - b for p, b in zip(procs, before, strict=True)]
    return sum(spent) / len(spent) / seconds


# --- report --------------------------------------------------------------------------------------


def _ratio(value: float, floor: float) -> str:
    return f"{value / floor:.1f}x" if floor > 0 else "-"


def report(console: Console, figures: Figures, cpus: int) -> None:
    workers = "one worker" if figures.workers == 1 else f"{figures.workers} workers"
    table = Table(
        title=f"Offer pipeline: {figures.offers} accepts, one API process, {workers}, {figures.engine}"
    )
    table.add_column("ms", no_wrap=True)
    for name in ("n", "min", "p50", "p90", "p99", "max"):
        table.add_column(name, justify="right", no_wrap=True)

    def row(name: str, values: list[float]) -> None:
        cells = [f"{percentile(values, q):,.0f}" for q in (0.0, 0.50, 0.90, 0.99, 1.0)]
        table.add_row(name, str(len(values)), *cells)

    row("accept → applied", figures.accept_to_applied_ms)
    row("accept → push sent", figures.accept_to_push_ms)
    row("sync reply at the client → applied", figures.reply_to_applied_ms)
    table.add_section()
    row("apply_offer job: enqueue → start", figures.apply_wait_ms)
    row("apply_offer job: start → finish", figures.apply_run_ms)
    row("send_push job: enqueue → start", figures.push_wait_ms)
    table.add_section()
    row("floor: ping enqueue → start, one at a time", figures.lone_ping_wait_ms)
    row("floor: ping enqueue → start, all at once", figures.burst_ping_wait_ms)
    console.print(table)
    pipeline_p50 = percentile(figures.accept_to_applied_ms, 0.50)
    lone_p50 = percentile(figures.lone_ping_wait_ms, 0.50)
    burst_p50 = percentile(figures.burst_ping_wait_ms, 0.50)
    outbox = figures.outbox
    console.print(
        f"accepts arrived at {figures.accepted_per_s:,.0f}/s ({figures.concurrency} concurrent clients); "
        f"applied offers/s: {figures.applied_per_s:,.0f} (first accept to last applied: "
        f"{figures.burst_s:.2f} s); no-op pings/s, all at once: {figures.pings_per_s:,.0f}\n"
        f"accept → applied p50 / floor p50: {_ratio(pipeline_p50, lone_p50)} (one at a time), "
        f"{_ratio(pipeline_p50, burst_p50)} (all at once)\n"
        f"outbox: {outbox.rows} rows, {outbox.requeued} re-enqueued by the relay, "
        f"{outbox.dead} dead-lettered, {outbox.pending} still pending\n"
        "accept = the server's time of the accepted audit event; applied = the worker's, when apply_offer "
        "began its transaction; push sent = the first sent push_attempts row of the user (log sender); "
        "job times are arq's. "
        f"Client, API, worker and Redis share this machine's {cpus} CPU(s).",
        highlight=False,
    )
    if figures.open_loops:
        report_open_loops(console, figures)


def report_open_loops(console: Console, figures: Figures) -> None:
    lone_p50 = percentile(figures.lone_ping_wait_ms, 0.50)
    lone_p99 = percentile(figures.lone_ping_wait_ms, 0.99)
    table = Table(
        title=f"Open loop: accepts at fixed rates, worker poll delay {figures.poll_delay_s * 1000:g} ms"
    )
    for name in (
        "rate/s", "s", "sent/s", "send late p99 ms", "accept → applied p50", "p99",
        "accept → push sent p50", "p99", "floor p50 / p99",
    ):  # fmt: skip
        table.add_column(name, justify="right", no_wrap=True)
    for run in figures.open_loops:
        table.add_row(
            f"{run.rate:g}",
            f"{run.seconds:g}",
            f"{run.sent_per_s:,.0f}",
            f"{percentile(run.late_ms, 0.99):,.1f}",
            f"{percentile(run.accept_to_applied_ms, 0.50):,.0f}",
            f"{percentile(run.accept_to_applied_ms, 0.99):,.0f}",
            f"{percentile(run.accept_to_push_ms, 0.50):,.0f}",
            f"{percentile(run.accept_to_push_ms, 0.99):,.0f}",
            f"{lone_p50:,.0f} / {lone_p99:,.0f}",
        )
    console.print(table)
    console.print(
        "latency from the accepted audit event (written in the transaction that commits the accept) "
        "to the applied event and to the first sent push; floor = arq's no-op ping, enqueue → start, "
        f"one at a time, same poll delay; an idle worker spends {figures.idle_worker_cpu * 100:.1f} % "
        f"of one CPU polling every {figures.poll_delay_s * 1000:g} ms",
        highlight=False,
    )


# --- entry ---------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.offer_pipeline", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--offers", type=int, default=200, help="users, each accepting one offer in the burst"
    )
    parser.add_argument("--pings", type=int, default=100, help="no-op jobs for the floor, per mode")
    parser.add_argument(
        "--concurrency", type=int, default=8, help="concurrent HTTP clients (set-up and burst)"
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=120.0,
        help="give up if the burst is not applied and notified by then",
    )
    parser.add_argument(
        "--relay-timeout",
        type=float,
        default=600.0,
        help="OUTBOX_RELAY_TIMEOUT_S of the worker (long: fast path only)",
    )
    parser.add_argument(
        "--database",
        default=None,
        help="DATABASE_URL of a scratch database (default: a new SQLite file), e.g. postgresql://…",
    )
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument(
        "--rates",
        type=_rates,
        default=[50.0, 100.0, 200.0],
        help="open loop: accepts per second, comma-separated (empty: no open loop)",
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="open loop: seconds per rate")
    parser.add_argument(
        "--poll-delay",
        type=float,
        default=DEFAULT_POLL_DELAY_S,
        help="WORKER_POLL_DELAY_S of the workers (default: the setting's default)",
    )
    args = parser.parse_args(argv)
    if args.offers < 1 or args.pings < 1 or args.concurrency < 1 or args.workers < 1:
        parser.error("--offers, --pings, --concurrency and --workers must be at least 1")
    if args.seconds <= 0 or not 0 < args.poll_delay <= 1:
        parser.error("--seconds must be above 0 and --poll-delay in (0, 1]")
    return args


def _rates(text: str) -> list[float]:
    if not text:
        return []
    try:
        rates = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError("rates are numbers, comma-separated") from None
    if any(not math.isfinite(r) or r <= 0 for r in rates):
        raise argparse.ArgumentTypeError("rates are above 0")
    return rates


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    # Wide enough for the figures table even when the output is piped (rich then assumes 80 columns).
    console = Console(width=max(Console().width, 150))
    console.print(
        f"offer pipeline: {args.offers} offers, {args.pings} pings per floor mode, "
        f"{args.concurrency} clients…",
        highlight=False,
    )
    figures = run(
        args.offers,
        args.pings,
        args.concurrency,
        args.max_seconds,
        args.relay_timeout,
        database_url=args.database,
        workers=args.workers,
        rates=args.rates,
        seconds=args.seconds,
        poll_delay_s=args.poll_delay,
    )
    report(console, figures, os.cpu_count() or 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
