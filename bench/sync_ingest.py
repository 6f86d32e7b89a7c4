"""Sync ingest throughput of one API process, next to the framework's floor, measured in one run.

Set-up: a temporary folder holding the SQLite file and an embedded Redis; one API process
(``uvicorn --factory cloud.app:create_app``) and one floor process (``bench.floor_app``: the same
framework decoding the same body, nothing else), both on loopback, access logs off in both.
Enrolled devices first grant ``share_aggregates`` through the protocol (a ``SetConsent`` at seq 1,
as an app does: the cloud stores aggregates only under a recorded grant), then push, each request
carrying ``--batch`` SubmitAggregate mutations in msgpack and the cursor the grant's reply gave,
with N devices concurrently (asyncio + one ``httpx.AsyncClient`` per device, so one keep-alive
connection per device). Bodies are encoded before the clock starts. Every mutation's result must be
``applied`` (the grant's and each aggregate's): anything else stops the run, so a refusal is never
measured. Floor and sync are measured alternately per level, so both see the same machine load.

The client runs on the same cores as the server: figures are a property of this machine, the ratio
to the floor is the number to compare across machines.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import math
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import httpx
from rich.console import Console
from rich.table import Table

from cloud.constants import ADMIN_PREFIX, ENROLL_PATH, HEALTH_LIVE_PATH, HEALTH_READY_PATH, SYNC_PATH
from cloud.embedded_redis import EmbeddedRedis, free_port, popen_child, stop_process
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


class BenchError(RuntimeError):
    """A server did not start or answered something other than success: the figures would be wrong."""


# --- payloads ------------------------------------------------------------------------------------


def aggregate(seq: int, now_ms: int) -> SubmitAggregate:
    """A realistic daily aggregate; ``seq`` also picks the day so no (device, day) repeats."""
    field_mechanism = FieldMechanism(k=8, epsilon=1.0)
    return SubmitAggregate(
        seq=seq,
        created_at=now_ms,
        day=(FIRST_DAY + dt.timedelta(days=seq)).isoformat(),
        tz_offset_min=120,
        window_bucket=48,
        levels=Levels(stress=seq % 8, valence=(seq * 3) % 8, arousal=(seq * 5) % 8),
        mechanism=Mechanism(stress=field_mechanism, valence=field_mechanism, arousal=field_mechanism),
        model_version="emo-v1.0.0",
    )


def request_body(device_id: str, first_seq: int, batch: int, now_ms: int, cursor: str | None = None) -> bytes:
    push: list[AnyMutation] = [aggregate(seq, now_ms) for seq in range(first_seq, first_seq + batch)]
    request = SyncRequest(
        protocol=PROTOCOL_VERSION, device_id=device_id, device_time=now_ms, push=push, cursor=cursor
    )
    return encode(request, MediaType.MSGPACK)


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


# --- processes -----------------------------------------------------------------------------------


@contextmanager
def serve(name: str, factory: str, port: int, env: dict[str, str], log: Path) -> Iterator[str]:
    """Run ``uvicorn --factory <factory>`` (the shared command line) on loopback until the block ends;
    yields its base URL."""
    # The command line of every API process, for the floor too: both run with the same options.
    cmd = uvicorn_command(
        "127.0.0.1", port, factory=factory, extra=("--no-access-log", "--log-level", "warning")
    )
    with log.open("wb") as out:
        proc = popen_child(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_http(base + (HEALTH_READY_PATH if name == "api" else HEALTH_LIVE_PATH), proc, name, log)
            yield base
        finally:
            stop_process(proc, timeout_s=10)


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


# --- devices and load ----------------------------------------------------------------------------


@dataclass
class Device:
    device_id: str
    access_token: str
    next_seq: int = 1
    cursor: str | None = None
    """Where the device's pull stands: after its grant, so pushes pull nothing (as before any)."""
    clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)
    """One keep-alive client per server, kept across levels so no level pays for connecting."""

    def client(self, base: str) -> httpx.AsyncClient:
        if base not in self.clients:
            headers = {**MSGPACK_HEADERS, "Authorization": f"Bearer {self.access_token}"}
            self.clients[base] = httpx.AsyncClient(base_url=base, timeout=30.0, headers=headers)
        return self.clients[base]

    async def close(self) -> None:
        for client in self.clients.values():
            await client.aclose()
        self.clients.clear()


@dataclass
class LevelResult:
    devices: int
    requests: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else float("nan")


async def enroll(base: str, count: int) -> list[Device]:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    devices: list[Device] = []
    async with httpx.AsyncClient(base_url=base, timeout=10.0) as client:
        for i in range(count):
            user = await client.post(
                f"{ADMIN_PREFIX}/users", json={"external_ref": f"bench-{i}"}, headers=admin
            )
            _expect(user, 201)
            user_id = user.json()["user_id"]
            code = await client.post(
                f"{ADMIN_PREFIX}/users/{user_id}/enrollment-codes", json={}, headers=admin
            )
            _expect(code, 201)
            body = encode(EnrollRequest(code=code.json()["code"], platform=Platform.ANDROID), MediaType.JSON)
            reply = await client.post(ENROLL_PATH, content=body, headers={"Content-Type": "application/json"})
            _expect(reply, 201)
            tokens = decode_tokens(reply.content, MediaType.JSON)
            devices.append(await _grant(client, Device(tokens.device_id, tokens.access_token)))
    return devices


async def _grant(client: httpx.AsyncClient, device: Device) -> Device:
    """Sync the device's grant of ``share_aggregates``; its aggregates start at seq 2."""
    headers = {**MSGPACK_HEADERS, "Authorization": f"Bearer {device.access_token}"}
    reply = await client.post(SYNC_PATH, content=grant_body(device.device_id, _now_ms()), headers=headers)
    _expect(reply, 200)
    decoded = decode_reply(reply.content, MediaType.MSGPACK)
    check_applied(device.device_id, decoded, range(1, 2))
    device.next_seq, device.cursor = 2, decoded.cursor
    return device


def _expect(reply: httpx.Response, status: int) -> None:
    if reply.status_code != status:
        raise BenchError(
            f"{reply.request.method} {reply.request.url}: {reply.status_code} {reply.text[:300]}"
        )


async def _push_all(
    base: str,
    device: Device,
    bodies: list[tuple[range, bytes]],
    check: bool,
    latencies: list[float],
    deadline: float,
) -> int:
    client = device.client(base)
    sent = 0
    for seqs, body in bodies:
        if time.perf_counter() > deadline:
            break
        started = time.perf_counter()
        reply = await client.post(SYNC_PATH, content=body)
        latencies.append((time.perf_counter() - started) * 1000)
        sent += 1
        if check:
            _expect(reply, 200)
            check_applied(device.device_id, decode_reply(reply.content, MediaType.MSGPACK), seqs)
        else:
            _expect(reply, 204)
    return sent


async def run_level(
    base: str, devices: list[Device], per_device: int, batch: int, check: bool, max_s: float
) -> LevelResult:
    """Every device pushes ``per_device`` requests of ``batch`` aggregates, concurrently."""
    now = _now_ms()
    bodies: list[list[tuple[range, bytes]]] = []
    for device in devices:
        own = []
        for _ in range(per_device):
            seqs = range(device.next_seq, device.next_seq + batch)
            own.append((seqs, request_body(device.device_id, seqs.start, batch, now, device.cursor)))
            if check:  # the floor keeps no state: reuse the seqs, the sync endpoint would not
                device.next_seq += batch
        bodies.append(own)
    latencies: list[float] = []
    started = time.perf_counter()
    deadline = started + max_s
    sent = await asyncio.gather(
        *(_push_all(base, d, b, check, latencies, deadline) for d, b in zip(devices, bodies, strict=True))
    )
    elapsed = time.perf_counter() - started
    if check:
        # Requests not sent because of the deadline leave their seqs unused: rewind to what was sent.
        for device, count, own in zip(devices, sent, bodies, strict=True):
            device.next_seq -= (len(own) - count) * batch
    return LevelResult(devices=len(devices), requests=sum(sent), seconds=elapsed, latencies_ms=latencies)


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


def report(
    console: Console, rows: list[tuple[LevelResult, LevelResult]], sizes: Sizes, batch: int, cpus: int
) -> None:
    table = Table(title=f"POST /v1/sync, {batch} SubmitAggregate per request, msgpack, one API process")
    for name in (
        "devices",
        "sync req/s",
        "floor req/s",
        "sync / floor",
        "sync p50 ms",
        "sync p99 ms",
        "floor p50 ms",
        "floor p99 ms",
        "aggregates/s",
        "requests",
    ):
        table.add_column(name, justify="right", no_wrap=True)
    for sync, floor in rows:
        table.add_row(
            str(sync.devices),
            f"{sync.rps:,.0f}",
            f"{floor.rps:,.0f}",
            f"{sync.rps / floor.rps:.0%}" if floor.rps else "-",
            f"{sync.percentile(0.50):.1f}",
            f"{sync.percentile(0.99):.1f}",
            f"{floor.percentile(0.50):.1f}",
            f"{floor.percentile(0.99):.1f}",
            f"{sync.rps * batch:,.0f}",
            f"{sync.requests}/{floor.requests}",
        )
    console.print(table)
    console.print(
        "floor = the same framework and process model decoding the same body and answering 204; "
        f"client and servers share this machine's {cpus} CPU(s). "
        "Target: sync >= 40 % of floor, p99 <= 20 ms.",
        highlight=False,
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


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.sync_ingest", description=__doc__.splitlines()[0])
    parser.add_argument("--devices", default="1,8,32", help="comma-separated concurrency levels")
    parser.add_argument(
        "--requests",
        type=int,
        default=2000,
        help="requests per level (split over devices; more = steadier p99)",
    )
    parser.add_argument("--batch", type=int, default=10, help="aggregates per request")
    parser.add_argument("--max-seconds", type=float, default=20.0, help="time cap per level and endpoint")
    return parser.parse_args(argv)


async def _measure(
    api: str, floor: str, levels: list[int], requests: int, batch: int, max_s: float
) -> tuple[list[tuple[LevelResult, LevelResult]], str]:
    devices = await enroll(api, max(levels))
    try:
        # Warm both servers up (imports, caches, every device's connection) outside the measurements.
        await run_level(floor, devices, 2, batch, check=False, max_s=max_s)
        await run_level(api, devices, 2, batch, check=True, max_s=max_s)
        rows = []
        for n in levels:
            per_device = max(2, math.ceil(requests / n))
            floor_result = await run_level(floor, devices[:n], per_device, batch, check=False, max_s=max_s)
            sync_result = await run_level(api, devices[:n], per_device, batch, check=True, max_s=max_s)
            rows.append((sync_result, floor_result))
    finally:
        for device in devices:
            await device.close()
    return rows, devices[0].device_id


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    levels = [int(x) for x in args.devices.split(",") if x.strip()]
    # Wide enough for the figures table even when the output is piped (rich then assumes 80 columns).
    console = Console(width=max(Console().width, 150))
    with tempfile.TemporaryDirectory(prefix="ec-bench-") as tmp:
        folder = Path(tmp)
        database = DatabaseSettings(f"sqlite:///{folder / 'cloud.sqlite3'}")
        with EmbeddedRedis(folder / "redis") as redis:
            asyncio.run(_migrate(database))
            env = {
                **os.environ,
                "DATA_DIR": str(folder),
                "DATABASE_URL": database.url,
                "REDIS_URL": redis.url,
                "ADMIN_TOKEN": ADMIN_TOKEN,
                "ENV": "development",
            }
            api_port, floor_port = free_port(), free_port()
            with (
                serve("api", "cloud.app:create_app", api_port, env, folder / "api.log") as api,
                serve("floor", "bench.floor_app:create_app", floor_port, env, folder / "floor.log") as floor,
            ):
                console.print(f"measuring levels {levels}, {args.requests} requests each…", highlight=False)
                rows, device_id = asyncio.run(
                    _measure(api, floor, levels, args.requests, args.batch, args.max_seconds)
                )
    report(console, rows, wire_sizes(args.batch, device_id), args.batch, os.cpu_count() or 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
