"""``python -m cloud.runner`` (what ``make run`` calls): the whole cloud on one machine.

Order of start-up: settings → ``DATA_DIR`` → a supported ``DATABASE_URL`` → a free API port →
Redis (the embedded one under ``DATA_DIR/redis`` when ``REDIS_URL`` is unset) → store migrations,
once → API (uvicorn) and arq worker as child processes → wait for ``/health/ready`` → on a new
data folder, the demo (``DEMO``: a seeded population, then ``ecs simulate``'s fleet of simulated
phones living the last ``DEMO_DAYS`` days, and its summary) → a demo user
and enrollment code through the admin API → print the URLs and a ready-to-paste enrollment
command (with ``ENV=production``: no demo user and no code, the admin API steps to enroll a device
instead). Ctrl-C or SIGTERM stops worker, API and Redis in that order and exits 0; a child that
dies on its own stops the rest and exits 1, and so does a refused ``DATABASE_URL`` or API port
(before anything started); invalid settings exit 2.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib.util
import os
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Final

import httpx
from rich.console import Console
from rich.table import Table

from cloud.constants import (
    ADMIN_PREFIX,
    API_DOCS_UI_PATH,
    DASHBOARD_PATH,
    ENROLL_PATH,
    HEALTH_READY_PATH,
    METRICS_MULTIPROC_ENV,
    OPENAPI_JSON_PATH,
)
from cloud.embedded_redis import EmbeddedRedis, EmbeddedRedisError, popen_child, stop_process
from cloud.ratelimit import DEVICE_RATE_LIMIT_VARS
from cloud.serve import uvicorn_command
from cloud.settings import RATE_OFF, InsecureSettings, Settings, load_settings
from cloud.store import UnsupportedDatabase, check_supported, open_store
from sync.codec import MediaType, encode
from sync.messages import EnrollRequest, Platform

READY_TIMEOUT_S: Final = 60.0
STOP_TIMEOUT_S: Final = 10.0
POLL_S: Final = 0.1
READY_LINE: Final = "Empathic Credit cloud is ready"
"""Printed once everything answers; tests and scripts wait for it."""
PRODUCTION_NO_DEMO_LINE: Final = "Production: no demo user or enrollment code was created"
"""Printed with ``ENV=production`` instead of the demo user, its code and the ``curl`` command."""


class RunnerError(RuntimeError):
    """The cloud could not be started or a part of it stopped on its own."""


class ChildExited(RunnerError):
    """A child process (API or worker) exited while it should be serving."""


class StopRequested(Exception):
    """SIGINT or SIGTERM arrived while starting up."""


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]


@dataclass(frozen=True)
class Demo:
    user_id: str
    code: str
    expires_at: int
    curl: str
    operator_password: str | None = None
    """The password of the ``demo`` operator account, when this run created it (the first)."""


DEMO_OPERATOR: Final = "demo"


class _Signals:
    """Turns SIGINT/SIGTERM into a flag the main loop polls, so shutdown runs in normal code."""

    def __init__(self) -> None:
        self.received: int | None = None

    def install(self) -> None:
        signal.signal(signal.SIGINT, self._handle)
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received = signum

    def check(self) -> None:
        if self.received is not None:
            raise StopRequested(signal.Signals(self.received).name)


async def _migrate(settings: Settings) -> None:
    store = await open_store(settings.database)
    try:
        await store.migrate()
    finally:
        await store.close()


def metrics_dir(settings: Settings) -> Path:
    """The folder where API and workers write their metric samples (:mod:`cloud.metrics`): the
    ``PROMETHEUS_MULTIPROC_DIR`` given, else ``<DATA_DIR>/metrics``; created, and emptied of the
    samples of an earlier run (they would be counted again)."""
    folder = Path(os.environ.get(METRICS_MULTIPROC_ENV) or settings.data_dir / "metrics")
    folder.mkdir(parents=True, exist_ok=True)
    for samples in folder.glob("*.db"):
        samples.unlink()
    return folder


def _child_env(settings: Settings, redis_url: str, *, demo_due: bool = False) -> dict[str, str]:
    env = dict(os.environ)
    if demo_due:
        # Unless set, no request limits while the API serves the demo: its phones all come from
        # 127.0.0.1 and live their days in seconds, which the production-sized limits would refuse.
        for name in DEVICE_RATE_LIMIT_VARS:
            env.setdefault(name, RATE_OFF)
    env.update(
        REDIS_URL=redis_url,
        DATABASE_URL=settings.database.url,
        DATA_DIR=str(settings.data_dir),
        HOST=settings.api.host,
        PORT=str(settings.api.port),
    )
    env[METRICS_MULTIPROC_ENV] = str(metrics_dir(settings))
    return env


def _check_port_free(host: str, port: int) -> None:
    # uvicorn would only say "address already in use" after everything else started. SO_REUSEADDR
    # as uvicorn sets it: connections of a previous run in TIME_WAIT do not block, a listener does.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            reason = f"{exc.strerror}; set PORT to a free port"
            raise RunnerError(f"cannot listen on {host}:{port} ({reason})") from exc


def _check_children(children: list[Child]) -> None:
    for child in children:
        code = child.proc.poll()
        if code is not None:
            raise ChildExited(f"the {child.name} process exited unexpectedly with code {code}")


def _wait_ready(base_url: str, children: list[Child], signals: _Signals) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    last = "no answer yet"
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            signals.check()
            _check_children(children)
            try:
                reply = client.get(base_url + HEALTH_READY_PATH)
                if reply.status_code == 200:
                    return
                last = f"HTTP {reply.status_code}: {reply.text[:200]}"
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(POLL_S)
    raise RunnerError(f"{base_url}{HEALTH_READY_PATH} not ready after {READY_TIMEOUT_S:.0f} s ({last})")


def _create_demo(base_url: str, admin_token: str) -> Demo:
    headers = {"Authorization": f"Bearer {admin_token}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=5.0) as client:
        user = client.post(f"{ADMIN_PREFIX}/users", json={"external_ref": None})
        if user.status_code != 201:
            raise RunnerError(f"creating the demo user failed: HTTP {user.status_code} {user.text[:300]}")
        user_id = str(user.json()["user_id"])
        code = client.post(f"{ADMIN_PREFIX}/users/{user_id}/enrollment-codes", json={})
        if code.status_code != 201:
            detail = f"HTTP {code.status_code} {code.text[:300]}"
            raise RunnerError(f"creating an enrollment code failed: {detail}")
        body = code.json()
        # The first run of a data folder also makes the dashboard's first account (development
        # only: this function never runs in production). Later runs find it made.
        password = secrets.token_urlsafe(12)
        made = client.post(
            f"{ADMIN_PREFIX}/operators/bootstrap", json={"username": DEMO_OPERATOR, "password": password}
        )
        operator_password = password if made.status_code == 201 else None
    request = EnrollRequest(code=str(body["code"]), platform=Platform.ANDROID, app_version="demo")
    payload = encode(request, MediaType.JSON).decode()
    curl = shlex.join(
        [
            "curl",
            "-sS",
            "-X",
            "POST",
            base_url + ENROLL_PATH,
            "-H",
            "Content-Type: application/json",
            "-d",
            payload,
        ]
    )
    return Demo(
        user_id=user_id,
        code=request.code,
        expires_at=int(body["expires_at"]),
        curl=curl,
        operator_password=operator_password,
    )


def _print_ready(
    console: Console, settings: Settings, base_url: str, redis_url: str, embedded: bool, demo: Demo | None
) -> None:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("API", base_url)
    if settings.api.docs:
        table.add_row("OpenAPI docs", base_url + API_DOCS_UI_PATH)
    table.add_row("OpenAPI JSON", base_url + OPENAPI_JSON_PATH)
    table.add_row("Dashboard", f"{base_url}{DASHBOARD_PATH} (an operator account signs in)")
    if demo is not None and demo.operator_password is not None:
        table.add_row("Operator", f"{DEMO_OPERATOR} / {demo.operator_password}")
    table.add_row("Redis", f"{redis_url} ({'embedded' if embedded else 'external'})")
    table.add_row("Database", _without_password(settings.database.url))
    table.add_row("Processes", f"{settings.api.processes} API, {settings.jobs.processes} worker")
    if demo is not None:
        table.add_row("Demo user", demo.user_id)
        expires = dt.datetime.fromtimestamp(demo.expires_at / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        table.add_row("Enrollment code", f"{demo.code} (one use, expires {expires})")
    console.print(table)
    if demo is not None:
        console.print("Enroll a demo device:", style="bold")
        # soft_wrap: the command must stay on one line, whatever the terminal width, to be pasted.
        console.print(demo.curl, soft_wrap=True, markup=False, highlight=False)
    else:
        for line in _production_enrollment_steps(base_url):
            console.print(line, soft_wrap=True, markup=False, highlight=False)
    console.print(f"{READY_LINE}. Press Ctrl-C to stop.", style="bold green", soft_wrap=True)


def _without_password(url: str) -> str:
    """``url`` with any password masked: the ready table may end up in a log."""
    return re.sub(r"(//[^/:@]*):[^/@]*@", r"\1:***@", url)


def _production_enrollment_steps(base_url: str) -> list[str]:
    """What to do instead of the demo enrollment: a production database gets no demo user."""
    return [
        f"{PRODUCTION_NO_DEMO_LINE}. The admin token only creates the first admin account:",
        f"  0. ecs operators bootstrap --username <you> --server {base_url}  (ADMIN_TOKEN set), then"
        " ecs login --username <you>  ->  a session token (Authorization: Bearer <token>)",
        "  To enroll a device, with that session:",
        f"  1. POST {base_url}{ADMIN_PREFIX}/users  ->  user_id",
        f"  2. POST {base_url}{ADMIN_PREFIX}/users/<user_id>/enrollment-codes  ->  a one-time code",
        f"  3. the device sends that code to POST {base_url}{ENROLL_PATH}",
    ]


def _demo_due(settings: Settings) -> bool:
    """The demo runs on a new data folder only: development, the embedded SQLite, a file that does
    not exist yet (an existing data folder is left as it is)."""
    return (
        settings.demo.enabled
        and not settings.is_production
        and settings.embedded_database  # the SQLite file under DATA_DIR
        and not settings.database.sqlite_path.exists()
    )


def _run_step(
    what: str, cmd: list[str], env: dict[str, str], children: list[Child], signals: _Signals
) -> None:
    """Run one demo step as a child process (its output is the terminal's), stopping it on a signal."""
    step = Child(what, popen_child(cmd, env=env, stdout=None, stderr=None))
    children.insert(0, step)  # stopped first if a signal arrives meanwhile
    try:
        while step.proc.poll() is None:
            signals.check()
            _check_children(children[1:])
            time.sleep(POLL_S)
    finally:
        if step.proc.poll() is None:
            stop_process(step.proc)
        children.remove(step)
    if step.proc.returncode != 0:
        raise RunnerError(f"the demo's {what} failed (exit {step.proc.returncode})")


def _run_demo(
    settings: Settings,
    base_url: str,
    env: dict[str, str],
    children: list[Child],
    signals: _Signals,
    console: Console,
) -> None:
    """A demo population (``cloud.seed``), then a fleet of simulated phones living the last
    ``DEMO_DAYS`` days through the mobile bridge (``ecs simulate``) while the worker evaluates,
    applies and pushes. The fleet is its own program: the cloud imports nothing of the edge."""
    demo = settings.demo
    console.print(f"API up at {base_url}; the demo runs first (DEMO=0 skips it).", highlight=False)
    if demo.users:
        console.print(f"Demo: seeding {demo.users} users with {demo.days} days of aggregates…", style="bold")
        seed = [sys.executable, "-m", "cloud.seed", "--users", str(demo.users), "--days", str(demo.days)]
        _run_step("seed", seed, env, children, signals)
    if importlib.util.find_spec("ecs") is None:
        console.print("Demo: no simulated phones (the ecs extra is not installed).", style="yellow")
        return
    console.print(f"Demo: {demo.devices} simulated phones live the last {demo.days} days…", style="bold")
    fleet = [
        sys.executable, "-m", "ecs.cli", "simulate",
        "--devices", str(demo.devices), "--days", str(demo.days),
        "--server", base_url, "--admin-token", settings.auth.admin_token,
        "--data-dir", str(settings.data_dir / "fleet"),
    ]  # fmt: skip
    _run_step("fleet", fleet, env, children, signals)


def _stop_all(children: list[Child], redis: EmbeddedRedis | None, console: Console) -> None:
    # Worker first (stop taking jobs), then the API, then Redis, which both of them use.
    for child in children:
        code = stop_process(child.proc, timeout_s=STOP_TIMEOUT_S)
        # uvicorn re-raises the SIGTERM it handled once shut down: a negative code is a signal.
        how = f"on {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        console.print(f"stopped {child.name} ({how})", highlight=False)
    if redis is not None:
        redis.stop(timeout_s=STOP_TIMEOUT_S)
        console.print("stopped embedded Redis", highlight=False)


def run(settings: Settings, console: Console, signals: _Signals) -> int:
    """Start everything, serve until a signal, stop everything; returns the exit code."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    redis: EmbeddedRedis | None = None
    children: list[Child] = []
    try:
        check_supported(settings.database)  # before anything starts: nothing to stop on a refusal
        _check_port_free(settings.api.host, settings.api.port)
        if settings.redis.url is None:
            redis = EmbeddedRedis(settings.data_dir / "redis")
            redis_url = redis.start()
        else:
            redis_url = settings.redis.url
        signals.check()
        demo_due = _demo_due(settings)
        asyncio.run(_migrate(settings))
        signals.check()
        env = _child_env(settings, redis_url, demo_due=demo_due)
        processes = settings.api.processes
        # Several API processes share the port through uvicorn's own supervisor (``--workers``).
        extra = ("--workers", str(processes)) if processes > 1 else ()
        api_cmd = uvicorn_command(
            settings.api.host, settings.api.port, extra=extra, access_log=settings.api.access_log
        )
        # Listed in stop order: the workers go first.
        workers = settings.jobs.processes
        for n in range(1, workers + 1):
            name = "worker" if workers == 1 else f"worker {n}"
            children.append(Child(name, popen_child([sys.executable, "-m", "cloud.workers"], env=env)))
        children.append(
            Child("API" if processes == 1 else f"API ({processes} processes)", popen_child(api_cmd, env=env))
        )
        base_url = f"http://{settings.api.host}:{settings.api.port}"
        _wait_ready(base_url, children, signals)
        # A production database must not get a user nobody asked for, nor a working enrollment code
        # printed to a log that others may read.
        demo = None if settings.is_production else _create_demo(base_url, settings.auth.admin_token)
        if demo_due:
            _run_demo(settings, base_url, env, children, signals, console)
        _print_ready(console, settings, base_url, redis_url, redis is not None, demo)
        while True:
            signals.check()
            _check_children(children)
            if redis is not None and not redis.running:
                raise ChildExited("the embedded Redis exited unexpectedly")
            time.sleep(POLL_S)
    except StopRequested as stop:
        console.print(f"{stop.args[0]} received, stopping…", highlight=False)
        return 0
    except (RunnerError, EmbeddedRedisError, UnsupportedDatabase) as exc:
        console.print(f"error: {exc}; stopping.", style="bold red", highlight=False)
        return 1
    finally:
        _stop_all(children, redis, console)


def main() -> int:
    console = Console(highlight=False)
    signals = _Signals()
    signals.install()
    try:
        settings = load_settings()
    except (InsecureSettings, ValueError) as exc:
        console.print(f"error: {exc}", style="bold red", highlight=False)
        return 2
    return run(settings, console, signals)


if __name__ == "__main__":
    sys.exit(main())
