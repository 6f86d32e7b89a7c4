"""What the rate limiter costs and what it holds back, in one run.

1. **In process**: :meth:`cloud.ratelimit.RateLimiter.check` against the embedded Redis, allowed
   and refused, next to the memory storage and no limit at all: µs per check.
2. **Over HTTP**, one API process pinned to one CPU, loaded by wrk from the other (a Python client
   on the same two cores would saturate before the server does):

   - a device's pull-only sync with the limit off and with a limit it never reaches: requests per
     second and server CPU per request, side by side, and their difference, the limiter's cost
     for a busy device (its leases); a quiet device pays one Redis call a sync, part 1's figure;
   - a hostile client hammering token refresh from one address, its budget spent: every request
     is held (``429``), and what a held request costs the server next to one the API decodes and
     refuses (``400``, limit off).

``python -m bench.ratelimit [--duration 5] [--checks 3000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from bench.sync_ingest import (
    ADMIN_TOKEN,
    BenchError,
    Device,
    Placement,
    Target,
    WrkRun,
    _migrate,
    enroll,
    find_wrk,
    on_cpus,
    placement,
    run_wrk,
    serve_process,
    write_device_files,
)
from cloud.constants import SYNC_PATH, TOKEN_PATH
from cloud.embedded_redis import EmbeddedRedis, free_port
from cloud.errors import RateLimited
from cloud.ratelimit import RATE_LIMIT_VARS, RateLimiter, Scope
from cloud.settings import DatabaseSettings, RateLimitSettings
from sync.codec import MediaType, encode
from sync.limits import PROTOCOL_VERSION
from sync.messages import SyncRequest

UNREACHED = "1000000/minute"


async def _checks(redis_url: str | None, rate: str | None, count: int, quiet: bool) -> tuple[float, float]:
    limiter = RateLimiter(RateLimitSettings(sync=rate), redis_url, namespace=f"bench-{time.time_ns()}")
    # A quiet subject (a phone syncing every 15 min) is seen once: every check asks Redis.
    subjects = [f"device-{i}" if quiet else "device" for i in range(count)]
    try:
        await limiter.check(Scope.SYNC, "warm-up")
        started, cpu = time.perf_counter(), time.process_time()
        for subject in subjects:
            with suppress(RateLimited):
                await limiter.check(Scope.SYNC, subject)
        return (time.perf_counter() - started) / count * 1e6, (time.process_time() - cpu) / count * 1e6
    finally:
        await limiter.close()


def in_process(redis_url: str, count: int) -> dict[str, tuple[float, float]]:
    """µs per check (wall, this process's CPU): no limit, memory, Redis for quiet and busy
    subjects, Redis refusing a spent budget."""
    return {
        "no limit (off)": asyncio.run(_checks(None, None, count, quiet=True)),
        "memory storage, quiet subjects": asyncio.run(_checks(None, UNREACHED, count, quiet=True)),
        "Redis, quiet subjects (one call each)": asyncio.run(
            _checks(redis_url, UNREACHED, count, quiet=True)
        ),
        "Redis, one busy subject (leases)": asyncio.run(_checks(redis_url, UNREACHED, count, quiet=False)),
        "Redis, spent budget (429)": asyncio.run(_checks(redis_url, "1/hour", count, quiet=False)),
    }


@contextmanager
def _api(
    folder: Path, redis_url: str, cpus: frozenset[int] | None, **limits: str
) -> Iterator[tuple[str, int]]:
    database = DatabaseSettings(f"sqlite:///{folder / 'cloud.sqlite3'}")
    folder.mkdir(parents=True, exist_ok=True)
    asyncio.run(_migrate(database))
    env = {
        **os.environ,
        "DATA_DIR": str(folder),
        "DATABASE_URL": database.url,
        "REDIS_URL": redis_url,
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "QUEUE_NAME": f"bench-limits-{folder.name}",
        "ENV": "development",
        **dict.fromkeys(RATE_LIMIT_VARS, UNREACHED),
        **limits,
    }
    with serve_process("api", "cloud.app:create_app", free_port(), env, folder / "api.log", cpus) as server:
        yield server.base, server.pid


def _pull_body(device: Device) -> bytes:
    # Nothing to push, a cursor that is up to date: the sync path with the least store work.
    request = SyncRequest(
        protocol=PROTOCOL_VERSION,
        device_id=device.device_id,
        device_time=time.time_ns() // 1_000_000,
        cursor=device.cursor,
    )
    return encode(request, MediaType.MSGPACK)


def _sync_run(wrk: str, folder: Path, url: str, pid: int, label: str, duration_s: int) -> WrkRun:
    with httpx.Client(base_url=url, headers={"authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30) as admin:
        devices = enroll(admin, 2, folder.name)
    bodies = folder / "sync-bodies"
    bodies.mkdir()
    for index, device in enumerate(devices):
        write_device_files(bodies, index, device, MediaType.MSGPACK, [_pull_body(device)])
    target = Target(f"sync, {label}", url + SYNC_PATH, pid, "post", 200, cycle=True)
    return run_wrk(wrk, target, len(devices), duration_s, bodies)


def _refresh_run(wrk: str, folder: Path, url: str, pid: int, held: bool, duration_s: int) -> WrkRun:
    garbage = b'{"refresh_token": "stolen?"}'
    if held:
        # Spend the address's budget first, so every request wrk sends is held.
        with httpx.Client(base_url=url, headers=_JSON) as client:
            while client.post(TOKEN_PATH, content=garbage).status_code != 429:
                pass
    bodies = folder / "refresh-bodies"
    bodies.mkdir()
    for index in range(2):
        (bodies / f"{index}.headers").write_bytes(b"Content-Type: application/json\r\n")
        (bodies / f"{index}.bodies").write_bytes(b"%08d" % len(garbage) + garbage)
    target = Target("refresh", url + TOKEN_PATH, pid, "post", 429 if held else 400, cycle=True)
    return run_wrk(wrk, target, 2, duration_s, bodies)


def http_runs(folder: Path, redis_url: str, where: Placement, duration_s: int) -> dict[str, WrkRun]:
    """The four wrk runs on two API processes: every limit off, then the limits on."""
    wrk = find_wrk()
    runs = {}
    with _api(folder / "off", redis_url, where.server, **dict.fromkeys(RATE_LIMIT_VARS, "off")) as (url, pid):
        runs["sync, limit off"] = _sync_run(wrk, folder / "off", url, pid, "limit off", duration_s)
        runs["refresh, limit off (400)"] = _refresh_run(wrk, folder / "off", url, pid, False, duration_s)
    limits = {"RATE_LIMIT_SYNC": UNREACHED, "RATE_LIMIT_REFRESH": "20/minute"}
    with _api(folder / "on", redis_url, where.server, **limits) as (url, pid):
        runs[f"sync, limit {UNREACHED}"] = _sync_run(wrk, folder / "on", url, pid, "limit on", duration_s)
        runs["refresh, budget spent (429)"] = _refresh_run(wrk, folder / "on", url, pid, True, duration_s)
    return runs


_JSON = {"content-type": "application/json"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--checks", type=int, default=3000, help="checks per in-process measurement")
    args = parser.parse_args(argv)
    console = Console()
    where = placement()
    with tempfile.TemporaryDirectory(prefix="ec-bench-limits-") as tmp, ExitStack() as stack:
        folder = Path(tmp)
        with on_cpus(where.server):
            redis = stack.enter_context(EmbeddedRedis(folder / "redis"))
        checks = in_process(redis.url, args.checks)
        table = Table(title="RateLimiter.check in process (µs per check)")
        table.add_column("storage, subjects")
        table.add_column("wall µs", justify="right")
        table.add_column("CPU µs", justify="right")
        for name, (wall, cpu) in checks.items():
            table.add_row(name, f"{wall:.1f}", f"{cpu:.1f}")
        console.print(table)

        runs = http_runs(folder, redis.url, where, args.duration)
    http = Table(title=f"Over HTTP: one API process, wrk with 2 connections, {args.duration} s each")
    for column in ("run", "requests", "req/s", "server CPU µs/request", "p50 ms", "wrk busy"):
        http.add_column(column, justify="right" if column != "run" else "left")
    for name, run in runs.items():
        http.add_row(
            name,
            str(run.requests),
            f"{run.rps:,.0f}",
            f"{run.cpu_us_per_request:.0f}",
            f"{run.p50_ms:.2f}",
            f"{run.client_busy:.0%}",
        )
    console.print(http)
    off, on = runs["sync, limit off"], runs[f"sync, limit {UNREACHED}"]
    held, decoded = runs["refresh, budget spent (429)"], runs["refresh, limit off (400)"]
    console.print(
        f"Limiter on a sync: +{on.cpu_us_per_request - off.cpu_us_per_request:.0f} µs of server CPU a request"
        f" ({on.cpu_us_per_request / off.cpu_us_per_request:.2f}x), throughput {on.rps / off.rps:.2f}x."
    )
    console.print(
        f"A held request: {held.cpu_us_per_request:.0f} µs of server CPU, against"
        f" {decoded.cpu_us_per_request:.0f} µs for one decoded and refused"
        f" ({held.cpu_us_per_request / decoded.cpu_us_per_request:.2f}x); {held.requests} held in"
        f" {held.seconds:.0f} s."
    )
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except BenchError as exc:
        raise SystemExit(f"bench.ratelimit: {exc}") from exc
