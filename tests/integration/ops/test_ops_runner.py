"""``python -m cloud.runner`` end to end: start, enroll with the printed command, stop cleanly."""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from cloud.embedded_redis import free_port, popen_child, stop_process
from cloud.runner import PRODUCTION_NO_DEMO_LINE, READY_LINE
from cloud.settings import DatabaseSettings
from cloud.store import Store
from cloud.store.records import EnrollmentCodeRecord, UserRecord
from sync.codec import MediaType, decode_tokens
from tests.support.processes import Runner, alive, children_of, port_open
from tests.support.secrets import PRODUCTION_ENV
from tests.support.store import StoreReader


@pytest.fixture
def start_runner(tmp_path: Path) -> Iterator[Callable[..., Runner]]:
    """Starts ``python -m cloud.runner`` on a free port over ``tmp_path/data``, with extra env vars."""
    started: list[Runner] = []

    def start(**extra_env: str) -> Runner:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL", "ENV")}
        env.update(DATA_DIR=str(tmp_path / "data"), PORT=str(port), HOST="127.0.0.1", COLUMNS="80")
        env.update(extra_env)
        proc = popen_child(
            [sys.executable, "-m", "cloud.runner"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        runner = Runner(proc=proc, port=port, data_dir=tmp_path / "data")
        runner.start_reading()
        started.append(runner)
        return runner

    try:
        yield start
    finally:
        for runner in started:
            if runner.proc.poll() is None:
                stop_process(runner.proc, timeout_s=20)
            if runner.proc.stdout is not None:
                runner.proc.stdout.close()


@pytest.fixture
def runner(start_runner: Callable[..., Runner]) -> Runner:
    return start_runner()


def test_runner_serves_enrolls_and_stops_on_sigint(runner: Runner) -> None:
    runner.wait_for(READY_LINE)
    base = f"http://127.0.0.1:{runner.port}"
    ready = httpx.get(base + "/health/ready")
    assert ready.status_code == 200
    assert "server" not in ready.headers  # started with the shared uvicorn command line
    assert base in runner.output
    # The dashboard's first account, as printed, signs in.
    printed = re.search(r"Operator +demo / (\S+)", runner.output)
    assert printed is not None, runner.output
    login = httpx.post(base + "/v1/admin/login", json={"username": "demo", "password": printed.group(1)})
    assert login.status_code == 200 and login.json()["role"] == "admin"

    # The printed command, executed as printed (parsed the way a shell would).
    curl = next(line for line in runner.lines if line.startswith("curl "))
    argv = shlex.split(curl)
    url = argv[argv.index("POST") + 1]
    header = argv[argv.index("-H") + 1]
    body = argv[argv.index("-d") + 1]
    name, value = header.split(": ", 1)
    reply = httpx.post(url, content=body.encode(), headers={name: value})
    assert reply.status_code == 201, reply.text
    tokens = decode_tokens(reply.content, MediaType.JSON)
    assert tokens.device_id and tokens.access_token and tokens.refresh_token
    # The code was one-time: the same command now fails.
    assert httpx.post(url, content=body.encode(), headers={name: value}).status_code == 401

    redis_pid = int((runner.data_dir / "redis" / "redis.pid").read_text())
    children = children_of(runner.proc.pid)
    assert len(children) == 3  # Redis, worker, API
    assert redis_pid in children
    assert (runner.data_dir / "cloud.sqlite3").exists()

    runner.proc.send_signal(signal.SIGINT)
    assert runner.finish() == 0, runner.output
    assert "SIGINT received" in runner.output
    assert not port_open(runner.port)
    for pid in children:
        assert not alive(pid), f"child {pid} still running:\n{runner.output}"
    assert "Traceback" not in runner.output, runner.output


def test_runner_stops_everything_when_a_child_dies(runner: Runner) -> None:
    runner.wait_for(READY_LINE)
    children = children_of(runner.proc.pid)
    redis_pid = int((runner.data_dir / "redis" / "redis.pid").read_text())
    worker_or_api = [pid for pid in children if pid != redis_pid]
    assert len(worker_or_api) == 2
    os.kill(worker_or_api[0], signal.SIGKILL)
    assert runner.finish() == 1, runner.output
    assert "exited unexpectedly with code -9" in runner.output
    assert not port_open(runner.port)
    for pid in children:
        assert not alive(pid), f"child {pid} still running:\n{runner.output}"


def test_runner_in_production_creates_no_demo_user_and_prints_no_code(
    start_runner: Callable[..., Runner],
) -> None:
    runner = start_runner(**PRODUCTION_ENV)
    runner.wait_for(READY_LINE)
    assert httpx.get(f"http://127.0.0.1:{runner.port}/health/ready").status_code == 200
    # What to do instead is printed; no user id, code or enrollment command.
    assert PRODUCTION_NO_DEMO_LINE in runner.output
    assert "/v1/admin/users/<user_id>/enrollment-codes" in runner.output
    assert "Demo user" not in runner.output and "Enrollment code" not in runner.output
    assert not any(line.startswith("curl ") for line in runner.lines), runner.output

    runner.proc.send_signal(signal.SIGTERM)
    assert runner.finish() == 0, runner.output
    assert "SIGTERM received" in runner.output
    # Read through the store the runner used (its default, SQLite in its data folder). An enrollment
    # code belongs to a user, so no user means no code; each user's codes are read all the same.
    reader = StoreReader(DatabaseSettings(f"sqlite:///{runner.data_dir / 'cloud.sqlite3'}"))
    try:
        users, codes = reader.read(users_and_codes)
    finally:
        reader.close()
    assert (users, codes) == ([], [])


async def users_and_codes(store: Store) -> tuple[list[UserRecord], list[EnrollmentCodeRecord]]:
    users = await store.list_users()
    return users, [code for user in users for code in await store.enrollment_codes(user.user_id)]


def test_runner_refuses_default_secrets_in_production(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("ADMIN_TOKEN", "JWT_SECRET")}
    env.update(ENV="production", DATA_DIR=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-m", "cloud.runner"], env=env, capture_output=True, timeout=60, check=False
    )
    assert done.returncode == 2
    assert b"ADMIN_TOKEN must be set in production" in done.stdout
    assert not (tmp_path / "redis").exists()


def test_runner_refuses_an_unsupported_database(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(DATA_DIR=str(tmp_path), DATABASE_URL="mysql://127.0.0.1:3306/test", PORT=str(free_port()))
    done = subprocess.run(
        [sys.executable, "-m", "cloud.runner"], env=env, capture_output=True, timeout=60, check=False
    )
    out = done.stdout.decode()
    assert done.returncode == 1, out
    assert "error: no store backend for 'mysql'; stopping." in out
    # Refused before starting anything: no embedded Redis to start and stop again.
    assert "stopped embedded Redis" not in out
    assert not (tmp_path / "redis").exists()


def test_runner_refuses_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
        env.update(DATA_DIR=str(tmp_path), PORT=str(port), HOST="127.0.0.1")
        done = subprocess.run(
            [sys.executable, "-m", "cloud.runner"], env=env, capture_output=True, timeout=60, check=False
        )
    out = done.stdout.decode()
    assert done.returncode == 1, out
    assert f"cannot listen on 127.0.0.1:{port}" in out
    assert not (tmp_path / "redis").exists()  # refused before starting anything
