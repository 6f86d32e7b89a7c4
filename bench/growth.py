"""Growth: what the embedded SQLite store costs as it grows (``make bench-growth``).

Separate from ``make bench`` because it builds a database of over a gigabyte. One API process runs
on the first CPU (the runner's command line, access log off); this script, its client, on the
others. The database is grown by copying rows the real server wrote (SQL ``INSERT … SELECT`` on a
connection of this script's, while the server runs): a template user gets ``--notices`` notices
through the admin API and a template device syncs 90 days of aggregates through the protocol;
other users get copies of those change-log rows, and a device each with copies of those
aggregates. Then:

1. **Pull latency** at each ``--sizes`` change-log size (10³, 10⁵, 10⁶ rows, other users' rows
   included): the template device pulls its user's change log from the start (a page of
   ``--notices`` changes, checked), one request at a time; p50 and p99 over ``--pulls``
   requests, and the ratio of each size's p99 to the smallest size's.
2. **Analytics** over ``--aggregates`` aggregates (10⁶): ``GET /v1/admin/analytics/stress`` over
   the 90 days they span; the answer must count every aggregate. Best and median of 5.
3. **Sustained sync load** once the database file is at least ``--min-db-mb`` (1,024): fresh
   devices sync 10-aggregate requests (``--concurrency`` at a time, each reply checked
   ``applied``) for ``--duration`` seconds (600). Reported: requests/s, p50/p99, bytes the API
   process wrote per request (``write_bytes`` of ``/proc/<pid>/io``: its WAL checkpoints
   included) and the WAL's size sampled each second, for the shipped WAL bound
   (``SQLITE_WAL_LIMIT_MB`` 64) and, with ``--unbounded``, for a bound that never applies, to
   show what bounding costs in p99.
4. **The floor** of bytes written: a bare ``sqlite3`` script in a process of its own, on a copy
   of the same database (same size and page size), writing per transaction the same 10
   aggregate rows and updating the device row (WAL, ``synchronous=NORMAL``, SQLite's automatic
   checkpoint), as many transactions as the API served requests in the bounded run.

The client is Python and is the bottleneck of the load's rate: this benchmark measures latency
and bytes per request under sustained load, not the ingest ceiling (``bench.sync_ingest``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import httpx
from rich.console import Console
from rich.table import Table

from bench.offer_pipeline import percentile
from bench.sync_ingest import (
    ACCESS_TOKEN_TTL_S,
    ADMIN_TOKEN,
    MSGPACK_HEADERS,
    BenchError,
    Device,
    Server,
    _expect,
    _migrate,
    _now_ms,
    check_applied,
    enroll,
    on_cpus,
    placement,
    request_body,
    serve_process,
)
from cloud.constants import ADMIN_PREFIX, SYNC_PATH
from cloud.embedded_redis import EmbeddedRedis, free_port
from cloud.ratelimit import RATE_LIMIT_VARS
from cloud.settings import DatabaseSettings
from sync.codec import MediaType, decode_reply, encode
from sync.limits import PROTOCOL_VERSION
from sync.messages import SyncRequest

TEMPLATE_DAYS: Final = 90
"""Days of aggregates the template device syncs, every other device gets copies of them, and the
analytics window spans (the API's longest)."""
BATCH: Final = 10
USERS_PER_TX: Final = 500
MIB: Final = 1024 * 1024
UNBOUNDED_WAL_MB: Final = 4096
"""The largest ``SQLITE_WAL_LIMIT_MB``: a bound a run of minutes never reaches."""


# --- growing the database ------------------------------------------------------------------------


@dataclass
class Grower:
    """Copies the template's rows to new users and devices, on a connection of its own."""

    path: Path
    template_user: str
    template_device: str
    users: int = 0
    """Copy users made so far (each with the template's change rows)."""
    devices: int = 0
    """Copy devices made so far (each with the template device's aggregates)."""

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=60.0)
        conn.execute("PRAGMA busy_timeout = 60000")
        return conn

    def _copy_user(self, conn: sqlite3.Connection, *, with_changes: bool) -> str:
        """A new user like the template; its change-log version is the template's when it gets a
        copy of the template's changes, else 0."""
        user_id = f"growth_{self.users:08d}"
        self.users += 1
        conn.execute(
            "INSERT INTO users (user_id, external_ref, version, created_at)"
            " SELECT ?, NULL, CASE WHEN ? THEN version ELSE 0 END, created_at FROM users WHERE user_id = ?",
            (user_id, with_changes, self.template_user),
        )
        return user_id

    def count(self, table: str) -> int:
        with self._connect() as conn:
            return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])  # noqa: S608

    def grow_change_log(self, rows: int) -> int:
        """Copy users until the change log holds at least ``rows`` rows; returns its size."""
        conn = self._connect()
        try:
            have = int(conn.execute("SELECT COUNT(*) FROM change_log").fetchone()[0])
            per_user = int(
                conn.execute(
                    "SELECT COUNT(*) FROM change_log WHERE user_id = ?", (self.template_user,)
                ).fetchone()[0]
            )
            while have < rows:
                batch = min(USERS_PER_TX, -(-(rows - have) // per_user))
                conn.execute("BEGIN IMMEDIATE")
                for _ in range(batch):
                    user_id = self._copy_user(conn, with_changes=True)
                    conn.execute(
                        "INSERT INTO change_log (user_id, version, type, body, created_at)"
                        " SELECT ?, version, type, body, created_at FROM change_log WHERE user_id = ?",
                        (user_id, self.template_user),
                    )
                conn.execute("COMMIT")
                have += batch * per_user
            return have
        finally:
            conn.close()

    def grow_aggregates(self, rows: int) -> int:
        """Copy devices (one per copy user, made as needed) until ``aggregates`` holds at least
        ``rows`` rows; returns its size."""
        conn = self._connect()
        try:
            columns = [r[1] for r in conn.execute("PRAGMA table_info(devices)")]
            copied = ", ".join("?" if c in ("device_id", "user_id", "lineage_id") else c for c in columns)
            have = int(conn.execute("SELECT COUNT(*) FROM aggregates").fetchone()[0])
            # The template's rows, read once (aggregates have no index on device_id alone).
            template = conn.execute(
                "SELECT seq, day, tz_offset_min, window_bucket, levels, mechanism, model_version,"
                " created_at, received_at, body FROM aggregates WHERE lineage_id = ?",
                (self.template_device,),
            ).fetchall()
            if len(template) != TEMPLATE_DAYS:
                raise BenchError(f"the template device holds {len(template)} aggregates, not {TEMPLATE_DAYS}")
            while have < rows:
                batch = min(USERS_PER_TX, -(-(rows - have) // TEMPLATE_DAYS))
                conn.execute("BEGIN IMMEDIATE")
                for _ in range(batch):
                    if self.devices >= self.users:
                        self._copy_user(conn, with_changes=False)
                    user_id = f"growth_{self.devices:08d}"
                    device_id = f"growth-device-{self.devices:08d}"
                    self.devices += 1
                    values = [
                        {"device_id": device_id, "user_id": user_id, "lineage_id": device_id}[c]
                        for c in columns
                        if c in ("device_id", "user_id", "lineage_id")
                    ]
                    conn.execute(
                        f"INSERT INTO devices ({', '.join(columns)}) SELECT {copied}"  # noqa: S608
                        " FROM devices WHERE device_id = ?",
                        (*values, self.template_device),
                    )
                    conn.executemany(
                        "INSERT INTO aggregates (device_id, lineage_id, user_id, seq, day, tz_offset_min,"
                        " window_bucket, levels, mechanism, model_version, created_at, received_at, body)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [(device_id, device_id, user_id, *row) for row in template],
                    )
                # The daily counts the analytics read, kept as the store's own scripts keep them.
                conn.executemany(
                    "INSERT INTO aggregate_counts (day, levels, mechanism, count) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (day, levels, mechanism) DO UPDATE SET count = count + excluded.count",
                    [(row[1], row[4], row[5], batch) for row in template],
                )
                conn.execute("COMMIT")
                have += batch * TEMPLATE_DAYS
            return have
        finally:
            conn.close()

    def checkpoint(self) -> None:
        with self._connect() as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def database_mb(path: Path) -> float:
    wal = Path(f"{path}-wal")
    return (path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)) / MIB


# --- measurements --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PullFigure:
    rows: int
    p50_ms: float
    p99_ms: float


def pull_body(device: Device, limit: int) -> bytes:
    request = SyncRequest(
        protocol=PROTOCOL_VERSION,
        device_id=device.device_id,
        device_time=_now_ms(),
        push=[],
        pull_limit=limit,
    )
    return encode(request, MediaType.MSGPACK)


def measure_pulls(client: httpx.Client, device: Device, rows: int, count: int, limit: int) -> PullFigure:
    headers = {**MSGPACK_HEADERS, "Authorization": f"Bearer {device.access_token}"}
    timings: list[float] = []
    for i in range(count + 20):
        body = pull_body(device, limit)
        started = time.perf_counter()
        reply = client.post(SYNC_PATH, content=body, headers=headers)
        elapsed = time.perf_counter() - started
        _expect(reply, 200)
        decoded = decode_reply(reply.content, MediaType.MSGPACK)
        if len(decoded.changes) != limit:
            raise BenchError(f"a pull from the start returned {len(decoded.changes)} changes, not {limit}")
        if i >= 20:  # the first ones warm the caches
            timings.append(elapsed * 1000)
    return PullFigure(rows, statistics.median(timings), percentile(timings, 0.99))


@dataclass(frozen=True)
class AnalyticsFigure:
    aggregates: int
    best_ms: float
    median_ms: float


def measure_analytics(admin: httpx.Client, last_day: str, aggregates: int) -> AnalyticsFigure:
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        reply = admin.get(
            f"{ADMIN_PREFIX}/analytics/stress", params={"day": last_day, "window_days": TEMPLATE_DAYS}
        )
        timings.append((time.perf_counter() - started) * 1000)
        _expect(reply, 200)
        counted = reply.json()["n"] + reply.json()["skipped"]
        if counted < aggregates:
            raise BenchError(f"analytics counted {counted} aggregates, the database holds {aggregates}")
    return AnalyticsFigure(aggregates, min(timings), statistics.median(timings))


def write_bytes(pid: int) -> int:
    """Bytes ``pid`` (and its threads) caused to be written to storage so far."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    raise BenchError(f"/proc/{pid}/io has no write_bytes")


@dataclass
class LoadFigure:
    label: str
    duration_s: float
    requests: int
    p50_ms: float
    p99_ms: float
    bytes_per_request: float
    wal_max_mb: float
    wal_samples_mb: list[float] = field(repr=False)

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s


async def _device_loop(
    client: httpx.AsyncClient, devices: list[Device], deadline: float, timings: list[float]
) -> int:
    seqs = dict.fromkeys((d.device_id for d in devices), 2)
    done = 0
    while time.monotonic() < deadline:
        for device in devices:
            seq = seqs[device.device_id]
            body = request_body(device.device_id, seq, BATCH, _now_ms(), device.cursor)
            headers = {**MSGPACK_HEADERS, "Authorization": f"Bearer {device.access_token}"}
            started = time.perf_counter()
            reply = await client.post(SYNC_PATH, content=body, headers=headers)
            timings.append((time.perf_counter() - started) * 1000)
            _expect(reply, 200)
            check_applied(
                device.device_id, decode_reply(reply.content, MediaType.MSGPACK), range(seq, seq + BATCH)
            )
            seqs[device.device_id] = seq + BATCH
            done += 1
    return done


async def _load(
    base: str, devices: list[Device], concurrency: int, duration_s: float
) -> tuple[int, list[float]]:
    timings: list[float] = []
    deadline = time.monotonic() + duration_s
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=60.0, limits=limits) as client:
        shares = [devices[i::concurrency] for i in range(concurrency)]
        counts = await asyncio.gather(*(_device_loop(client, share, deadline, timings) for share in shares))
    return sum(counts), timings


def sustained_load(
    label: str, api: Server, db: Path, devices: list[Device], concurrency: int, duration_s: float
) -> LoadFigure:
    samples: list[float] = []
    stop = threading.Event()

    def sample() -> None:
        wal = Path(f"{db}-wal")
        while not stop.wait(1.0):
            samples.append((wal.stat().st_size if wal.exists() else 0) / MIB)

    sampler = threading.Thread(target=sample, daemon=True)
    written_before = write_bytes(api.pid)
    started = time.monotonic()
    sampler.start()
    try:
        requests, timings = asyncio.run(_load(api.base, devices, concurrency, duration_s))
    finally:
        stop.set()
        sampler.join()
    elapsed = time.monotonic() - started
    written = write_bytes(api.pid) - written_before
    return LoadFigure(
        label=label,
        duration_s=elapsed,
        requests=requests,
        p50_ms=statistics.median(timings),
        p99_ms=percentile(timings, 0.99),
        bytes_per_request=written / max(requests, 1),
        wal_max_mb=max(samples, default=0.0),
        wal_samples_mb=samples,
    )


# --- the floor: a bare sqlite3 script ------------------------------------------------------------


def floor_child(path: Path, transactions: int) -> dict[str, float]:
    """In a process of its own: ``transactions`` times, the 10 aggregate rows and the device row
    a sync request writes, on ``path``; returns the bytes this process wrote per transaction."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    template = conn.execute(
        "SELECT device_id, user_id, tz_offset_min, window_bucket, levels, mechanism, model_version, body"
        " FROM aggregates ORDER BY aggregate_id DESC LIMIT 1"
    ).fetchone()
    device_id = "floor-device"
    conn.execute(
        "INSERT INTO devices (device_id, user_id, platform, created_at, last_seen_at, lineage_id)"
        " VALUES (?, ?, 'android', 0, 0, ?)",
        (device_id, template[1], device_id),
    )
    before = write_bytes(os.getpid())
    started = time.perf_counter()
    seq = 0
    for _ in range(transactions):
        conn.execute("BEGIN IMMEDIATE")
        now = _now_ms()
        for _ in range(BATCH):
            seq += 1
            conn.execute(
                "INSERT INTO aggregates (device_id, lineage_id, user_id, seq, day, tz_offset_min,"
                " window_bucket, levels, mechanism, model_version, created_at, received_at, body)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    device_id,
                    device_id,
                    template[1],
                    seq,
                    f"floor-{seq:09d}",
                    *template[2:7],
                    now,
                    now,
                    template[7],
                ),
            )
        conn.execute(
            "UPDATE devices SET last_seq = ?, last_seen_at = ? WHERE device_id = ?", (seq, now, device_id)
        )
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    written = write_bytes(os.getpid()) - before
    conn.close()
    return {"bytes_per_tx": written / transactions, "tx_per_s": transactions / elapsed}


def measure_floor(db: Path, folder: Path, transactions: int, cpus: frozenset[int] | None) -> dict[str, float]:
    copy = folder / "floor.sqlite3"
    shutil.copyfile(db, copy)
    with on_cpus(cpus):
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.growth",
                "--floor-child",
                str(copy),
                "--transactions",
                str(transactions),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
    copy.unlink()
    result: dict[str, float] = json.loads(out.stdout)
    return result


# --- the run -------------------------------------------------------------------------------------


@contextmanager
def api_process(
    folder: Path, db: Path, redis_url: str, cpus: frozenset[int] | None, wal_limit_mb: int, name: str
) -> Iterator[Server]:
    env = {
        **os.environ,
        "DATA_DIR": str(folder),
        "DATABASE_URL": f"sqlite:///{db}",
        "REDIS_URL": redis_url,
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "ACCESS_TOKEN_TTL_S": str(ACCESS_TOKEN_TTL_S),
        "SQLITE_WAL_LIMIT_MB": str(wal_limit_mb),
        "ENV": "development",
        # The limiter runs, with limits the load never reaches (it enrolls and syncs far faster
        # than phones do, all from 127.0.0.1).
        **dict.fromkeys(RATE_LIMIT_VARS, "1000000/minute"),
    }
    with serve_process("api", "cloud.app:create_app", free_port(), env, folder / f"{name}.log", cpus) as api:
        yield api


def template_device(admin: httpx.Client, notices: int) -> tuple[Device, str]:
    """The enrolled template device, its user's ``notices`` notices and 90 days of aggregates
    synced through the protocol; returns the device and the last day."""
    [device] = enroll(admin, 1, "growth-template")
    for i in range(notices):
        _expect(
            admin.post(
                f"{ADMIN_PREFIX}/users/{device.user_id}/notices",
                json={"kind": "info", "title": f"notice {i}", "body": "growth"},
            ),
            201,
        )
    headers = {**MSGPACK_HEADERS, "Authorization": f"Bearer {device.access_token}"}
    with httpx.Client(base_url=admin.base_url, timeout=60.0) as client:
        for first in range(2, 2 + TEMPLATE_DAYS, BATCH):
            reply = client.post(
                SYNC_PATH,
                content=request_body(device.device_id, first, BATCH, _now_ms(), None),
                headers=headers,
            )
            _expect(reply, 200)
            check_applied(
                device.device_id, decode_reply(reply.content, MediaType.MSGPACK), range(first, first + BATCH)
            )
    last = admin.get(f"{ADMIN_PREFIX}/users/{device.user_id}/view").json()["aggregates"][-1]["day"]
    return device, str(last)


@dataclass
class Results:
    pulls: list[PullFigure] = field(default_factory=list)
    analytics: AnalyticsFigure | None = None
    database_mb: float = 0.0
    loads: list[LoadFigure] = field(default_factory=list)
    floor: dict[str, float] = field(default_factory=dict)


def run(args: argparse.Namespace, console: Console) -> Results:
    where = placement()
    results = Results()
    with tempfile.TemporaryDirectory(prefix="ec-growth-") as tmp, ExitStack() as stack:
        folder = Path(tmp)
        db = folder / "cloud.sqlite3"
        with on_cpus(where.server):
            redis = stack.enter_context(EmbeddedRedis(folder / "redis"))
        asyncio.run(_migrate(DatabaseSettings(f"sqlite:///{db}")))
        stack.enter_context(on_cpus(where.client))
        cpus = (
            "not pinned"
            if where.server is None or where.client is None
            else (
                f"API and Redis on CPU {min(where.server)}, this script and its floor process on the others"
            )
        )
        console.print(f"growth: {cpus}", highlight=False, markup=False)
        with (
            api_process(folder, db, redis.url, where.server, 64, "api-build") as api,
            httpx.Client(
                base_url=api.base, timeout=120.0, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
            ) as admin,
        ):
            device, last_day = template_device(admin, args.notices)
            grower = Grower(db, device.user_id, device.device_id)
            with httpx.Client(base_url=api.base, timeout=60.0) as client:
                for size in args.sizes:
                    rows = grower.grow_change_log(size)
                    grower.checkpoint()
                    results.pulls.append(measure_pulls(client, device, rows, args.pulls, args.notices))
                    console.print(f"  pull at {rows:,} change-log rows measured", highlight=False)
            aggregates = grower.grow_aggregates(args.aggregates)
            grower.checkpoint()
            results.analytics = measure_analytics(admin, last_day, aggregates)
            console.print(f"  analytics over {aggregates:,} aggregates measured", highlight=False)
            while database_mb(db) < args.min_db_mb:
                grower.grow_aggregates(grower.count("aggregates") + 200_000)
            grower.checkpoint()
            results.database_mb = database_mb(db)
            load_devices = enroll(admin, args.concurrency * 4, "growth-load")
        limits = [("bounded (SQLITE_WAL_LIMIT_MB=64)", 64)]
        if args.unbounded:
            limits.append((f"unbounded (SQLITE_WAL_LIMIT_MB={UNBOUNDED_WAL_MB})", UNBOUNDED_WAL_MB))
        for round_index, (label, limit) in enumerate(limits):
            if round_index:
                # Fresh devices: the first round's seqs and days are taken.
                with (
                    api_process(folder, db, redis.url, where.server, 64, "api-enroll") as api,
                    httpx.Client(
                        base_url=api.base, timeout=120.0, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
                    ) as admin,
                ):
                    load_devices = enroll(admin, args.concurrency * 4, f"growth-load-{round_index}")
            Grower(db, "", "").checkpoint()
            with api_process(folder, db, redis.url, where.server, limit, f"api-load-{round_index}") as api:
                console.print(f"  sustained load, {label}, {args.duration} s…", highlight=False, markup=False)
                results.loads.append(
                    sustained_load(label, api, db, load_devices, args.concurrency, args.duration)
                )
        transactions = results.loads[0].requests
        Grower(db, "", "").checkpoint()
        results.floor = measure_floor(db, folder, max(transactions, 1), where.server)
    return results


def report(console: Console, results: Results, args: argparse.Namespace) -> None:
    pulls = Table(title="pull from the start (a page of the device's changes) by change-log size")
    for column in ("change-log rows", "p50 ms", "p99 ms", "p99 / smallest"):
        pulls.add_column(column, justify="right")
    base = results.pulls[0].p99_ms if results.pulls else float("nan")
    for p in results.pulls:
        pulls.add_row(f"{p.rows:,}", f"{p.p50_ms:.2f}", f"{p.p99_ms:.2f}", f"{p.p99_ms / base:.2f}")
    console.print(pulls)
    if results.analytics is not None:
        a = results.analytics
        console.print(
            f"analytics (population stress over {TEMPLATE_DAYS} days) over {a.aggregates:,} aggregates:"
            f" best {a.best_ms:.0f} ms, median {a.median_ms:.0f} ms",
            highlight=False,
        )
    load = Table(
        title=f"sustained sync load on a {results.database_mb:,.0f} MB database,"
        f" {args.concurrency} at a time, {BATCH} aggregates per request"
    )
    for column in (
        "WAL bound",
        "s",
        "requests",
        "req/s",
        "p50 ms",
        "p99 ms",
        "KB written/request",
        "WAL max MB",
    ):
        load.add_column(column, justify="right")
    for f in results.loads:
        load.add_row(
            f.label,
            f"{f.duration_s:.0f}",
            f"{f.requests:,}",
            f"{f.rps:.0f}",
            f"{f.p50_ms:.2f}",
            f"{f.p99_ms:.2f}",
            f"{f.bytes_per_request / 1024:.1f}",
            f"{f.wal_max_mb:.1f}",
        )
    floor_kb = results.floor.get("bytes_per_tx", float("nan")) / 1024
    floor_rate = results.floor.get("tx_per_s", 0.0)
    load.add_row(
        "floor: bare sqlite3 script", "", f"{results.loads[0].requests:,}", f"{floor_rate:.0f}",
        "", "", f"{floor_kb:.1f}", "",
    )  # fmt: skip
    console.print(load)
    bounded = results.loads[0]
    console.print(
        f"bytes written per request / floor: {bounded.bytes_per_request / 1024 / floor_kb:.2f}",
        highlight=False,
    )


def _ints(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError("a comma-separated list of integers") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError("positive integers")
    return values


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.growth", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=_ints, default=[1_000, 100_000, 1_000_000], help="change-log rows")
    parser.add_argument("--aggregates", type=int, default=1_000_000, help="aggregates the analytics read")
    parser.add_argument("--min-db-mb", type=int, default=1024, help="database size of the sustained load")
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of sustained load per run")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight during the load")
    parser.add_argument("--notices", type=int, default=100, help="the template user's notices (a pull page)")
    parser.add_argument("--pulls", type=int, default=300, help="pull requests per size")
    parser.add_argument("--unbounded", action="store_true", help="also run the load with the WAL unbounded")
    parser.add_argument("--floor-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--transactions", type=int, default=1000, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.floor_child is not None:
        print(json.dumps(floor_child(args.floor_child, args.transactions)))
        return 0
    console = Console(width=max(Console().width, 160))
    try:
        results = run(args, console)
    except BenchError as exc:
        console.print(f"growth: stopped, no figures. {exc}", style="bold red", highlight=False, markup=False)
        return 1
    report(console, results, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
