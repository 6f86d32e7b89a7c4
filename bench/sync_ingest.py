"""Sync ingest throughput of one API process, next to the framework's floor, loaded by wrk.

Set-up: a temporary folder holding the SQLite file and an embedded Redis; one API process
(``uvicorn --factory cloud.app:create_app``) and one floor process (``bench.floor_app``: the same
framework decoding the same body, nothing else), both on loopback with the same command line,
access logs off. The load comes from wrk (``bench/sync_ingest.lua``), not from Python: a client
written in Python saturates before the server does, and its "floor" is then its own limit. With
two CPUs or more, the servers (API, floor, Redis) run on the first one and wrk on the others, so
the load generator never takes the server's core; the output says which cores, how busy each side
was, and wrk's own CPU, so a saturated client would show.

Per concurrency level N and media type (JSON, msgpack), N fresh devices enroll and grant
``share_aggregates`` through the protocol (a ``SetConsent`` at seq 1, as an app does: the cloud
stores aggregates only under a recorded grant), before the clock starts. Then, in turn:

1. the floor: wrk with N threads and N connections, one device each, cycling through the device's
   first bodies (the floor keeps no state);
2. sync: the same, on ``POST /v1/sync`` of the API, each request a fresh batch of ``--batch``
   ``SubmitAggregate`` (the next seqs, new days) carrying the device's token and the cursor its
   grant's reply gave. Bodies are encoded in Python before the run (JSON and msgpack identical in
   content), enough for 1.25 times the floor's rate just measured; a device that runs out stops
   the run rather than repeat a seq;
3. ``GET /health/live`` of the same API process: what its framework, middleware and server cost
   without a body.

Floor and sync alternate per level, so both see the same machine load. For each run: requests/s,
p50 and p99 latency (wrk's histogram), and the server process's CPU time per request (utime +
stime from ``/proc/<pid>/stat``, before and after).

Nothing is measured that was not applied: every sync reply must be 200 with ``--batch`` results
``applied`` (checked by the Lua script per reply), every floor reply 204, every live reply 200,
no socket error or timeout; then, through the admin API, each device's ``last_seq`` must be the
seqs it was answered for (or one batch more: a request in flight when wrk stopped, applied but not
counted) and its stored aggregates exactly seqs 2..last_seq. Anything else stops the benchmark.

Figures are a property of this machine; the ratio to the floor is the number to compare across
machines.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import importlib.metadata
import json
import math
import os
import platform
import re
import resource
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx
from rich.console import Console
from rich.table import Table

from cloud.constants import ADMIN_PREFIX, ENROLL_PATH, HEALTH_LIVE_PATH, HEALTH_READY_PATH, SYNC_PATH
from cloud.embedded_redis import EmbeddedRedis, free_port, popen_child, stop_process
from cloud.ratelimit import RATE_LIMIT_VARS
from cloud.serve import uvicorn_command
from cloud.settings import DatabaseSettings
from cloud.store import open_store
from sync.codec import MediaType, decode_reply, decode_tokens, encode
from sync.limits import PROTOCOL_VERSION
from sync.messages import (
    AnyMutation,
    ConsentScope,
    EnrollRequest,
    FieldMechanism,
    Levels,
    Mechanism,
    Platform,
    SetConsent,
    SubmitAggregate,
    SyncReply,
    SyncRequest,
)

ADMIN_TOKEN: Final = secrets.token_urlsafe(24)
"""Fresh per run: the benchmark API listens on loopback only, but never with a known token."""
MSGPACK_HEADERS: Final = {"Content-Type": MediaType.MSGPACK.value, "Accept": MediaType.MSGPACK.value}
FIRST_DAY: Final = dt.date(2000, 1, 1)
START_TIMEOUT_S: Final = 60.0
LUA_SCRIPT: Final = Path(__file__).with_name("sync_ingest.lua")
FLOOR_BODIES: Final = 256
"""Bodies per device the floor cycles through (the first ones of the device's sync run)."""
SYNC_BODY_MARGIN: Final = 1.25
"""Sync bodies per level: this times what the floor served at that level in the same time. Sync
does everything the floor does and more, so it never needs them all unless the load changed."""
ACCESS_TOKEN_TTL_S: Final = 86400
"""The longest the settings allow: no device token expires during a run."""
WRK_INSTALL_HINT: Final = (
    "wrk (the HTTP load generator, https://github.com/wg/wrk) is not on PATH. `make bench` installs "
    "it with apt-get when it runs as root on Debian or Ubuntu; otherwise install it yourself "
    "(`sudo apt-get install wrk`, `brew install wrk`, or build it from source) and run again."
)


class BenchError(RuntimeError):
    """A server did not start or answered something other than success: the figures would be wrong."""


class WrkMissing(BenchError):
    """wrk is not installed: the benchmark stops rather than measure with a client that saturates."""


# --- payloads ------------------------------------------------------------------------------------

_MECHANISM: Final = Mechanism(
    stress=FieldMechanism(k=8, epsilon=1.0),
    valence=FieldMechanism(k=8, epsilon=1.0),
    arousal=FieldMechanism(k=8, epsilon=1.0),
)


def aggregate(seq: int, now_ms: int) -> SubmitAggregate:
    """A realistic daily aggregate; ``seq`` also picks the day so no (device, day) repeats."""
    return SubmitAggregate(
        seq=seq,
        created_at=now_ms,
        day=(FIRST_DAY + dt.timedelta(days=seq)).isoformat(),
        tz_offset_min=120,
        window_bucket=48,
        levels=Levels(stress=seq % 8, valence=(seq * 3) % 8, arousal=(seq * 5) % 8),
        mechanism=_MECHANISM,
        model_version="emo-v1.0.0",
    )


def request_body(
    device_id: str,
    first_seq: int,
    batch: int,
    now_ms: int,
    cursor: str | None = None,
    media: MediaType = MediaType.MSGPACK,
) -> bytes:
    push: list[AnyMutation] = [aggregate(seq, now_ms) for seq in range(first_seq, first_seq + batch)]
    request = SyncRequest(
        protocol=PROTOCOL_VERSION, device_id=device_id, device_time=now_ms, push=push, cursor=cursor
    )
    return encode(request, media)


def grant_body(device_id: str, now_ms: int) -> bytes:
    """The device's first sync: ``share_aggregates`` granted at seq 1, as an app does before sending
    aggregates."""
    grant = SetConsent(seq=1, created_at=now_ms, scope=ConsentScope.SHARE_AGGREGATES, granted=True)
    request = SyncRequest(protocol=PROTOCOL_VERSION, device_id=device_id, device_time=now_ms, push=[grant])
    return encode(request, MediaType.MSGPACK)


def check_applied(device_id: str, reply: SyncReply, seqs: range) -> None:
    """Raise :class:`BenchError` unless every mutation of ``seqs`` was applied (nothing refused,
    superseded, duplicate or left out): a benchmark must never measure refusals."""
    got = [(r.seq, r.status, r.code, r.detail) for r in reply.results]
    if reply.expected_seq is not None or got != [(seq, "applied", None, None) for seq in seqs]:
        span = f"{seqs.start}..{seqs.stop - 1}"
        raise BenchError(f"device {device_id}: not all of seqs {span} applied: {reply}")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


# --- devices -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Device:
    user_id: str
    device_id: str
    access_token: str
    cursor: str | None
    """Where the device's pull stands after its grant, so pushes pull nothing."""

    def bodies(self, count: int, batch: int, media: MediaType, now_ms: int) -> Iterator[bytes]:
        """The device's first ``count`` pushes after its grant: seqs 2.., ``batch`` per body."""
        for i in range(count):
            yield request_body(self.device_id, 2 + i * batch, batch, now_ms, self.cursor, media)


def enroll(admin: httpx.Client, count: int, label: str) -> list[Device]:
    """``count`` users with one device each, every device having synced its grant (seq 1).

    ``admin`` is a client of the API with the admin token set; devices speak without it."""
    devices = []
    with httpx.Client(base_url=admin.base_url, timeout=admin.timeout) as client:
        for i in range(count):
            user = admin.post(f"{ADMIN_PREFIX}/users", json={"external_ref": f"bench-{label}-{i}"})
            _expect(user, 201)
            user_id = user.json()["user_id"]
            code = admin.post(f"{ADMIN_PREFIX}/users/{user_id}/enrollment-codes", json={})
            _expect(code, 201)
            request = EnrollRequest(code=code.json()["code"], platform=Platform.ANDROID)
            reply = client.post(
                ENROLL_PATH,
                content=encode(request, MediaType.JSON),
                headers={"Content-Type": MediaType.JSON.value},
            )
            _expect(reply, 201)
            tokens = decode_tokens(reply.content, MediaType.JSON)
            devices.append(_grant(client, user_id, tokens.device_id, tokens.access_token))
    return devices


def _grant(client: httpx.Client, user_id: str, device_id: str, access_token: str) -> Device:
    """Sync the device's grant of ``share_aggregates``; its aggregates start at seq 2."""
    headers = {**MSGPACK_HEADERS, "Authorization": f"Bearer {access_token}"}
    reply = client.post(SYNC_PATH, content=grant_body(device_id, _now_ms()), headers=headers)
    _expect(reply, 200)
    decoded = decode_reply(reply.content, MediaType.MSGPACK)
    check_applied(device_id, decoded, range(1, 2))
    return Device(user_id, device_id, access_token, decoded.cursor)


def _expect(reply: httpx.Response, status: int) -> None:
    if reply.status_code != status:
        raise BenchError(
            f"{reply.request.method} {reply.request.url}: {reply.status_code} {reply.text[:300]}"
        )


def write_device_files(
    folder: Path, index: int, device: Device, media: MediaType, bodies: Iterable[bytes]
) -> int:
    """The files the Lua script reads for thread ``index``; returns how many bodies were written."""
    headers = (
        f"Content-Type: {media.value}\r\nAccept: {media.value}\r\n"
        f"Authorization: Bearer {device.access_token}\r\n"
    )
    (folder / f"{index}.headers").write_bytes(headers.encode("ascii"))
    count = 0
    with (folder / f"{index}.bodies").open("wb") as out:
        for body in bodies:
            out.write(b"%08d" % len(body))
            out.write(body)
            count += 1
    return count


# --- processes and CPUs --------------------------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """Which CPUs the servers and the load generator run on (``None``: not pinned)."""

    server: frozenset[int] | None
    client: frozenset[int] | None

    def describe(self) -> str:
        if self.server is None or self.client is None:
            return (
                "not pinned (one CPU, or no CPU affinity on this system): wrk shares the servers' "
                "CPU, so the figures understate the server"
            )
        return (
            f"servers (API, floor, Redis) on CPU {_cpus(self.server)}, "
            f"wrk and this script on CPU {_cpus(self.client)}"
        )


def _cpus(cpus: frozenset[int]) -> str:
    return ",".join(str(c) for c in sorted(cpus))


def placement() -> Placement:
    """The first CPU this process may use for the servers, the others for wrk (at least two)."""
    if not hasattr(os, "sched_getaffinity"):
        return Placement(None, None)
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return Placement(None, None)
    return Placement(frozenset(cpus[:1]), frozenset(cpus[1:]))


@contextmanager
def on_cpus(cpus: frozenset[int] | None) -> Iterator[None]:
    """Run the block (and the processes it starts, which inherit it) on ``cpus``."""
    if cpus is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def _own_cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far, all its threads (``/proc/<pid>/stat``)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return 0.0
    # Fields after the command name, which is in parentheses and may hold spaces: state is field 3,
    # utime 14 and stime 15 (proc(5)).
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue
    return found


def cpu_seconds(pid: int) -> float:
    """CPU time of ``pid`` and its live descendants (uvicorn's ``--workers`` processes)."""
    total = _own_cpu_seconds(pid)
    for child in _children(pid):
        total += cpu_seconds(child)
    return total


@dataclass(frozen=True)
class Server:
    base: str
    pid: int


@contextmanager
def serve_process(
    name: str,
    factory: str,
    port: int,
    env: dict[str, str],
    log: Path,
    cpus: frozenset[int] | None = None,
    processes: int = 1,
) -> Iterator[Server]:
    """Run ``uvicorn --factory <factory>`` (the shared command line) on loopback, on ``cpus``, until
    the block ends; ``processes`` > 1 is uvicorn's ``--workers`` (the runner's ``API_PROCESSES``)."""
    # The command line of every API process, for the floor too: both run with the same options.
    extra: tuple[str, ...] = ("--log-level", "warning")
    if processes > 1:
        extra += ("--workers", str(processes))
    cmd = uvicorn_command("127.0.0.1", port, factory=factory, extra=extra)
    with log.open("wb") as out:
        with on_cpus(cpus):
            proc = popen_child(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_http(base + (HEALTH_READY_PATH if name == "api" else HEALTH_LIVE_PATH), proc, name, log)
            yield Server(base, proc.pid)
        finally:
            stop_process(proc, timeout_s=10)


@contextmanager
def serve(name: str, factory: str, port: int, env: dict[str, str], log: Path) -> Iterator[str]:
    """:func:`serve_process`, unpinned; yields the base URL."""
    with serve_process(name, factory, port, env, log) as server:
        yield server.base


def _wait_http(url: str, proc: subprocess.Popen[bytes], name: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise BenchError(f"{name} server exited with {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                # The floor has no health route: any HTTP answer means it listens.
                status = client.get(url).status_code
                if status == 200 or (name == "floor" and status < 500):
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    raise BenchError(f"{name} server not ready at {url} after {START_TIMEOUT_S} s")


async def _migrate(database: DatabaseSettings) -> None:
    store = await open_store(database)
    try:
        await store.migrate()
    finally:
        await store.close()


# --- wrk -----------------------------------------------------------------------------------------


def find_wrk() -> str:
    """wrk's path; :class:`WrkMissing` (saying how to install it) when it is not on PATH."""
    path = shutil.which("wrk")
    if path is None:
        raise WrkMissing(WRK_INSTALL_HINT)
    return path


def wrk_version(wrk: str) -> str:
    """``wrk -v``'s first line without the copyright (it exits 1 after printing its usage)."""
    out = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False).stdout
    first = out.splitlines()[0] if out else "wrk (version unknown)"
    return first.split(" Copyright")[0].strip()


@dataclass(frozen=True)
class ThreadCounts:
    """One wrk thread's (one device's) replies, as the Lua script counted them."""

    ok: int
    bad: int
    exhausted: bool
    bad_status: int
    bad_body: bytes


@dataclass(frozen=True)
class WrkRun:
    connections: int
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    threads: list[ThreadCounts]
    server_cpu_s: float
    client_cpu_s: float
    wall_s: float
    """From wrk's start to its exit: the window both CPU times were read over."""

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def cpu_us_per_request(self) -> float:
        return self.server_cpu_s / self.requests * 1e6 if self.requests else math.nan

    @property
    def server_busy(self) -> float:
        """Share of one CPU the server process used while wrk ran."""
        return self.server_cpu_s / self.wall_s

    @property
    def client_busy(self) -> float:
        """Share of one CPU wrk used while it ran."""
        return self.client_cpu_s / self.wall_s


@dataclass(frozen=True)
class Target:
    """What one wrk run loads and what every reply must be."""

    what: str
    url: str
    server_pid: int
    mode: str
    """``post`` (each thread its device's bodies) or ``get``."""
    expect_status: int
    applied_per_reply: int = 0
    cycle: bool = False


def run_wrk(wrk: str, target: Target, connections: int, duration_s: int, folder: Path) -> WrkRun:
    """One wrk run of ``connections`` threads with one connection each; raises :class:`BenchError`
    unless every reply was what ``target`` expects (no socket error, no device out of bodies)."""
    args = [target.mode, str(folder), str(target.expect_status), str(target.applied_per_reply)]
    cmd = [
        wrk,
        "-t",
        str(connections),
        "-c",
        str(connections),
        "-d",
        f"{duration_s}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA_SCRIPT),
        target.url,
        "--",
        *args,
        "1" if target.cycle else "0",
    ]
    server_before = cpu_seconds(target.server_pid)
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    # The command is built here from our own paths and numbers.
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration_s + 120, check=False)
    wall_s = time.monotonic() - started
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_cpu_s = cpu_seconds(target.server_pid) - server_before
    client_cpu_s = (children_after.ru_utime + children_after.ru_stime) - (
        children_before.ru_utime + children_before.ru_stime
    )
    line = next((x for x in proc.stdout.splitlines() if x.startswith("BENCH-RESULT ")), None)
    if proc.returncode != 0 or line is None:
        raise BenchError(
            f"{target.what}: wrk exited with {proc.returncode}: {proc.stderr.strip()[-2000:]}"
            f" {proc.stdout.strip()[-2000:]}"
        )
    result = json.loads(line.removeprefix("BENCH-RESULT "))
    threads = [
        ThreadCounts(
            ok=t["ok"],
            bad=t["bad"],
            exhausted=bool(t["exhausted"]),
            bad_status=t["bad_status"],
            bad_body=bytes.fromhex(t["bad_hex"]),
        )
        for t in sorted(result["threads"], key=lambda t: int(t["id"]))
    ]
    run = WrkRun(
        connections=connections,
        requests=result["requests"],
        seconds=result["duration_us"] / 1e6,
        p50_ms=result["p50_us"] / 1000,
        p99_ms=result["p99_us"] / 1000,
        threads=threads,
        server_cpu_s=server_cpu_s,
        client_cpu_s=client_cpu_s,
        wall_s=wall_s,
    )
    _check_run(target, run, result["errors"])
    return run


def _check_run(target: Target, run: WrkRun, errors: dict[str, int]) -> None:
    if target.expect_status >= 400:
        # wrk counts every reply of status 400 and above as an error; the script checks the status.
        errors = {kind: count for kind, count in errors.items() if kind != "status"}
    if any(errors.values()):
        raise BenchError(f"{target.what}: wrk counted errors {errors}")
    if len(run.threads) != run.connections:
        raise BenchError(f"{target.what}: {len(run.threads)} wrk threads reported, not {run.connections}")
    for index, counts in enumerate(run.threads):
        if counts.bad:
            expected = f"{target.expect_status}" + (
                f" with {target.applied_per_reply} results applied" if target.applied_per_reply else ""
            )
            raise BenchError(
                f"{target.what}: device {index}: {counts.bad} replies were not {expected}; the first: "
                f"{counts.bad_status} {_show(counts.bad_body)}"
            )
        if counts.exhausted:
            raise BenchError(
                f"{target.what}: device {index} sent all its bodies: the sync endpoint outran "
                f"{SYNC_BODY_MARGIN} times the floor measured just before, so the machine's load "
                "changed during the level; run again on a quieter machine"
            )
    if sum(t.ok for t in run.threads) != run.requests:
        raise BenchError(
            f"{target.what}: wrk counted {run.requests} replies, the script "
            f"{sum(t.ok for t in run.threads)} good ones"
        )
    if run.requests == 0:
        raise BenchError(f"{target.what}: no reply at all in {run.seconds:.1f} s")


def _show(body: bytes) -> str:
    for media in (MediaType.MSGPACK, MediaType.JSON):
        try:
            return repr(decode_reply(body, media))
        except Exception:  # noqa: S112 - not a reply in this media type: try the next
            continue
    return repr(body[:300])


def verify_stored(admin: httpx.Client, what: str, devices: Sequence[Device], run: WrkRun, batch: int) -> None:
    """Through the admin API: each device's ``last_seq`` is the seqs it was answered for (or one
    batch more, a request in flight when wrk stopped) and its stored aggregates are exactly seqs
    2..last_seq. Raises :class:`BenchError` otherwise: a gap or a refusal is never throughput."""
    for index, (device, counts) in enumerate(zip(devices, run.threads, strict=True)):
        reply = admin.get(f"{ADMIN_PREFIX}/users/{device.user_id}/view")
        _expect(reply, 200)
        view = reply.json()
        [record] = [d for d in view["devices"] if d["device_id"] == device.device_id]
        last_seq = record["last_seq"]
        answered = 1 + counts.ok * batch  # seq 1 is the grant
        if last_seq not in (answered, answered + batch):
            raise BenchError(
                f"{what}: device {index}: last_seq {last_seq} on the server, but {counts.ok} requests "
                f"of {batch} were answered (last_seq {answered}, or {answered + batch} with one in flight)"
            )
        seqs = sorted(a["seq"] for a in view["aggregates"] if a["device_id"] == device.device_id)
        if seqs != list(range(2, last_seq + 1)):
            raise BenchError(
                f"{what}: device {index}: {len(seqs)} aggregates stored, not seqs 2..{last_seq} "
                f"({last_seq - 1} aggregates)"
            )


# --- one level -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Servers:
    api: Server
    floor: Server
    admin: httpx.Client
    wrk: str
    batch: int


@dataclass(frozen=True)
class Level:
    media: MediaType
    devices: int
    floor: WrkRun
    sync: WrkRun
    live: WrkRun


def measure_level(servers: Servers, media: MediaType, n: int, duration_s: int, label: str) -> Level:
    """Floor, sync, then ``/health/live`` at ``n`` concurrent devices (fresh ones) in ``media``."""
    devices = enroll(servers.admin, n, label)
    now = _now_ms()
    batch = servers.batch
    with tempfile.TemporaryDirectory(prefix="ec-bench-wrk-") as tmp:
        folder = Path(tmp)
        for i, device in enumerate(devices):
            write_device_files(folder, i, device, media, device.bodies(FLOOR_BODIES, batch, media, now))
        floor = run_wrk(
            servers.wrk,
            Target(
                f"floor, {n} devices, {media.name}",
                servers.floor.base + SYNC_PATH,
                servers.floor.pid,
                "post",
                204,
                cycle=True,
            ),
            n,
            duration_s,
            folder,
        )
        per_device = math.ceil(floor.rps * duration_s * SYNC_BODY_MARGIN / n) + 16
        for i, device in enumerate(devices):
            write_device_files(folder, i, device, media, device.bodies(per_device, batch, media, now))
        what = f"sync, {n} devices, {media.name}"
        sync = run_wrk(
            servers.wrk,
            Target(what, servers.api.base + SYNC_PATH, servers.api.pid, "post", 200, applied_per_reply=batch),
            n,
            duration_s,
            folder,
        )
    verify_stored(servers.admin, what, devices, sync, batch)
    live = run_wrk(
        servers.wrk,
        Target(f"live, {n} devices", servers.api.base + HEALTH_LIVE_PATH, servers.api.pid, "get", 200),
        n,
        duration_s,
        Path(),
    )
    return Level(media, n, floor, sync, live)


# --- report --------------------------------------------------------------------------------------


@dataclass
class Sizes:
    aggregate_msgpack: int
    aggregate_json: int
    request_msgpack: int
    request_json: int


def wire_sizes(batch: int, device_id: str) -> Sizes:
    now = _now_ms()
    one = aggregate(1, now)
    push: list[AnyMutation] = [aggregate(seq, now) for seq in range(1, batch + 1)]
    request = SyncRequest(protocol=PROTOCOL_VERSION, device_id=device_id, device_time=now, push=push)
    return Sizes(
        aggregate_msgpack=len(encode(one, MediaType.MSGPACK)),
        aggregate_json=len(encode(one, MediaType.JSON)),
        request_msgpack=len(encode(request, MediaType.MSGPACK)),
        request_json=len(encode(request, MediaType.JSON)),
    )


@dataclass(frozen=True)
class Machine:
    cpu: str
    cpus: int
    system: str
    versions: dict[str, str]
    placement: Placement
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float] = (math.nan, math.nan, math.nan)


def machine(wrk: str, where: Placement) -> Machine:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.M)
        cpu = found[1].strip() if found else cpu
    versions = {"Python": platform.python_version()}
    for package in ("litestar", "uvicorn", "uvloop", "httptools", "msgspec", "aiosqlite"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    versions["SQLite"] = sqlite3.sqlite_version
    versions["load generator"] = wrk_version(wrk)
    return Machine(
        cpu=cpu,
        cpus=os.cpu_count() or 1,
        system=f"{platform.system()} {platform.release()}",
        versions=versions,
        placement=where,
        load_before=os.getloadavg(),
    )


def _ms(run: WrkRun) -> str:
    return f"{run.p50_ms:.2f} / {run.p99_ms:.2f}"


def report(
    console: Console,
    levels: list[Level],
    sizes: Sizes,
    batch: int,
    box: Machine,
    duration_s: int,
    engine: str = "sqlite",
    api_processes: int = 1,
) -> None:
    for media in dict.fromkeys(level.media for level in levels):
        processes = "one API process" if api_processes == 1 else f"{api_processes} API processes"
        table = Table(
            title=f"POST /v1/sync, {batch} SubmitAggregate per request, {media.name} bodies, "
            f"{engine}, {processes}, {duration_s} s per run"
        )
        for name in (
            "devices",
            "sync\nreq/s",
            "floor\nreq/s",
            "sync /\nfloor",
            "live\nreq/s",
            "sync ms\np50 / p99",
            "floor ms\np50 / p99",
            "live ms\np50 / p99",
            "sync CPU\nµs/req",
            "floor CPU\nµs/req",
            "CPU sync\n/ floor",
            "server busy\nsync/floor/live",
            "wrk busy\n(max)",
        ):
            table.add_column(name, justify="right", no_wrap=True)
        for level in (x for x in levels if x.media is media):
            sync, floor, live = level.sync, level.floor, level.live
            table.add_row(
                str(level.devices),
                f"{sync.rps:,.0f}",
                f"{floor.rps:,.0f}",
                f"{sync.rps / floor.rps:.2f}",
                f"{live.rps:,.0f}",
                _ms(sync),
                _ms(floor),
                _ms(live),
                f"{sync.cpu_us_per_request:,.0f}",
                f"{floor.cpu_us_per_request:,.0f}",
                f"{sync.cpu_us_per_request / floor.cpu_us_per_request:.1f} x",
                " / ".join(f"{run.server_busy:.0%}" for run in (sync, floor, live)),
                f"{max(run.client_busy for run in (sync, floor, live)):.0%}",
            )
        console.print(table)
    checked = sum(level.sync.requests for level in levels)
    console.print(
        "floor = the same framework, server and flags decoding the same body and answering 204; "
        f"live = GET /health/live of the same API process. sync / floor is the ratio of req/s "
        f"(aggregates/s = {batch} x sync req/s); "
        "CPU is the server process's user + system time per request; busy = share of one CPU "
        "during the run (server near 100 %: the server is the limit; wrk near 100 %: the client is).\n"
        f"Checked: {checked:,} sync replies each 200 with {batch} results applied, every floor reply "
        "204, every live reply 200, no socket error; each device's last_seq and stored aggregates "
        "(admin API) are exactly the seqs answered.\n"
        "Targets at 8 devices: sync >= 50 % of the floor, p99 <= 15 ms, server CPU <= 400 µs per request.",
        highlight=False,
        markup=False,
    )
    load_before = " ".join(f"{x:.2f}" for x in box.load_before)
    load_after = " ".join(f"{x:.2f}" for x in box.load_after)
    console.print(
        f"Machine: {box.cpu}, {box.cpus} CPU(s), {box.system}; {box.placement.describe()}.\n"
        f"Load average (1, 5, 15 min) before: {load_before}, after: {load_after}.\n"
        "Versions: " + ", ".join(f"{name} {version}" for name, version in box.versions.items()) + ".",
        highlight=False,
        markup=False,
    )
    sizes_table = Table(title="Bytes on the wire (bodies, without HTTP headers)")
    sizes_table.add_column("what")
    sizes_table.add_column("msgpack", justify="right")
    sizes_table.add_column("JSON", justify="right")
    sizes_table.add_row(
        "one daily aggregate (SubmitAggregate)", str(sizes.aggregate_msgpack), str(sizes.aggregate_json)
    )
    sizes_table.add_row(
        f"one request, {batch} aggregates (SyncRequest)", str(sizes.request_msgpack), str(sizes.request_json)
    )
    console.print(sizes_table)


# --- entry ---------------------------------------------------------------------------------------

MEDIA: Final = {"json": MediaType.JSON, "msgpack": MediaType.MSGPACK}


def _levels(text: str) -> list[int]:
    levels = [int(x) for x in text.split(",") if x.strip()]
    if not levels or min(levels) < 1:
        raise argparse.ArgumentTypeError("concurrency levels are positive integers")
    return levels


def _media(text: str) -> list[MediaType]:
    try:
        return [MEDIA[x.strip()] for x in text.split(",") if x.strip()]
    except KeyError as exc:
        raise argparse.ArgumentTypeError(f"media types are json and msgpack, not {exc}") from None


def _seconds(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("seconds are 0 or more")
    return value


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.sync_ingest", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--devices", type=_levels, default=[1, 8, 32], help="comma-separated concurrency levels"
    )
    parser.add_argument(
        "--media", type=_media, default=[MediaType.JSON, MediaType.MSGPACK], help="json,msgpack"
    )
    parser.add_argument(
        "--duration", type=_seconds, default=5, help="seconds of each wrk run (floor, sync, live) per level"
    )
    parser.add_argument(
        "--warmup",
        type=_seconds,
        default=1,
        help="seconds of an unreported run per media type first (0: none)",
    )
    parser.add_argument("--batch", type=int, default=10, help="aggregates per request")
    parser.add_argument(
        "--database",
        default=None,
        help="DATABASE_URL of a scratch database to run the API on (default: a new SQLite file);"
        " e.g. postgresql://postgres@127.0.0.1:5432/bench",
    )
    parser.add_argument(
        "--api-processes", type=int, default=1, help="API processes on the one port (uvicorn --workers)"
    )
    args = parser.parse_args(argv)
    if args.api_processes < 1:
        parser.error("--api-processes is at least 1")
    if args.duration < 1:
        parser.error("--duration is at least 1 (wrk counts whole seconds)")
    return args


def run(args: argparse.Namespace, console: Console) -> tuple[list[Level], Machine]:
    """Start Redis, the API and the floor on the server CPU, then measure every level from the
    client CPU; raises :class:`WrkMissing` before starting anything when wrk is not installed."""
    wrk = find_wrk()
    where = placement()
    box = machine(wrk, where)
    levels: list[Level] = []
    with tempfile.TemporaryDirectory(prefix="ec-bench-") as tmp, ExitStack() as stack:
        folder = Path(tmp)
        database = DatabaseSettings(args.database or f"sqlite:///{folder / 'cloud.sqlite3'}")
        with on_cpus(where.server):
            redis = stack.enter_context(EmbeddedRedis(folder / "redis"))
        asyncio.run(_migrate(database))
        env = {
            **os.environ,
            "DATA_DIR": str(folder),
            "DATABASE_URL": database.url,
            "REDIS_URL": redis.url,
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "ACCESS_TOKEN_TTL_S": str(ACCESS_TOKEN_TTL_S),
            "ENV": "development",
            # The limiter runs on every sync, as in production, with a limit wrk never reaches:
            # each simulated device syncs far more often than a phone.
            **dict.fromkeys(RATE_LIMIT_VARS, "1000000/minute"),
        }
        api = stack.enter_context(
            serve_process(
                "api",
                "cloud.app:create_app",
                free_port(),
                env,
                folder / "api.log",
                where.server,
                processes=args.api_processes,
            )
        )
        floor = stack.enter_context(
            serve_process(
                "floor", "bench.floor_app:create_app", free_port(), env, folder / "floor.log", where.server
            )
        )
        admin = stack.enter_context(
            httpx.Client(base_url=api.base, timeout=60.0, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        )
        stack.enter_context(on_cpus(where.client))  # wrk, started from here, inherits it
        servers = Servers(api, floor, admin, wrk, args.batch)
        console.print(
            f"sync ingest: {database.url.split(':', 1)[0]}, {args.api_processes} API process(es);"
            f" {where.describe()}; levels {args.devices}, "
            f"{', '.join(m.name for m in args.media)}, {args.duration} s per run…",
            highlight=False,
            markup=False,
        )
        if args.warmup:
            for media in args.media:
                measure_level(servers, media, min(8, max(args.devices)), args.warmup, f"warmup-{media.name}")
        for n in args.devices:
            for media in args.media:
                levels.append(measure_level(servers, media, n, args.duration, f"{media.name}-{n}"))
    return levels, dataclasses.replace(box, load_after=os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    # Wide enough for the figures table even when the output is piped (rich then assumes 80 columns).
    console = Console(width=max(Console().width, 200))
    try:
        levels, box = run(args, console)
    except WrkMissing as exc:
        console.print(f"sync ingest: not measured. {exc}", style="bold red", highlight=False, markup=False)
        return 2
    except BenchError as exc:
        console.print(
            f"sync ingest: stopped, no figures. {exc}", style="bold red", highlight=False, markup=False
        )
        return 1
    engine = (args.database or "sqlite").split(":", 1)[0]
    report(
        console,
        levels,
        wire_sizes(args.batch, "0" * 32),
        args.batch,
        box,
        args.duration,
        engine=engine,
        api_processes=args.api_processes,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
