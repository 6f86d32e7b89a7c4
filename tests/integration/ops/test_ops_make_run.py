"""``make run`` under a supervisor: SIGTERM to make's pid, or SIGINT to its process group (a
terminal's Ctrl-C), stops the runner and with it worker, API and embedded Redis, in that order."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cloud.embedded_redis import free_port
from cloud.runner import READY_LINE
from tests.support.processes import Runner, alive, command_line, descendants_of, port_open

REPO = Path(__file__).resolve().parents[3]
STOP_BOUND_S = 20.0
"""Each child gets SIGTERM and a few seconds at most; the whole stop takes about one second."""


@pytest.fixture
def make_run(tmp_path: Path) -> Iterator[Callable[[], Runner]]:
    """Starts ``make run`` as a supervisor would: in its own session and process group, with a
    temporary ``DATA_DIR`` and a free ``PORT``."""
    started: list[Runner] = []

    def start() -> Runner:
        port = free_port()
        env = {
            k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL", "ENV", "MAKEFLAGS")
        }
        env.update(PORT=str(port), HOST="127.0.0.1", COLUMNS="80")
        # -o: the install stamp counts as done, so the test never runs pip; PY: this interpreter.
        command = [
            "make",
            "-s",
            "-o",
            ".venv/.run-installed",
            "run",
            f"DATA_DIR={tmp_path}",
            f"PY={sys.executable}",
        ]
        proc = subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        runner = Runner(proc=proc, port=port, data_dir=tmp_path)
        runner.start_reading()
        started.append(runner)
        return runner

    try:
        yield start
    finally:
        for runner in started:
            # The whole group, make gone or not: a runner left behind is in it (its own children
            # get SIGTERM when it dies).
            with contextlib.suppress(ProcessLookupError):
                os.killpg(runner.proc.pid, signal.SIGKILL)
            runner.proc.wait(10)
            runner.close()


def _everything(make: Runner) -> list[int]:
    """Every process under make: the runner and its worker, API and embedded Redis."""
    pids = descendants_of(make.proc.pid)
    names = {pid: " ".join(command_line(pid)) for pid in pids}
    redis_pid = int((make.data_dir / "redis" / "redis.pid").read_text())
    assert redis_pid in pids, names
    for part in ("-m cloud.runner", "-m cloud.workers", "cloud.app:create_app"):
        assert any(part in line for line in names.values()), (part, names)
    return pids


def _assert_all_gone(make: Runner, pids: list[int], started: float) -> None:
    deadline = started + STOP_BOUND_S
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [pid for pid in pids if alive(pid)]
    assert not left, f"still running after {STOP_BOUND_S} s: {left}\n{make.output}"
    make.finish(timeout_s=max(1.0, deadline - time.monotonic()))
    assert not port_open(make.port)
    # Stopped in order, worker first and Redis last, and not killed.
    lines = make.lines
    order = [
        next(i for i, line in enumerate(lines) if line.startswith(prefix))
        for prefix in ("stopped worker", "stopped API", "stopped embedded Redis")
    ]
    assert order == sorted(order), make.output
    assert "SIGKILL" not in make.output and "Traceback" not in make.output, make.output


def test_sigterm_to_make_stops_runner_worker_api_and_redis(make_run: Callable[[], Runner]) -> None:
    make = make_run()
    make.wait_for(READY_LINE)
    pids = _everything(make)

    started = time.monotonic()
    os.kill(make.proc.pid, signal.SIGTERM)  # make's pid alone, as a supervisor's stop
    _assert_all_gone(make, pids, started)
    assert "SIGTERM received" in make.output
    # GNU make forwards the SIGTERM, waits for the runner, then dies of the signal itself.
    assert make.proc.returncode == -signal.SIGTERM


def test_sigint_to_the_process_group_stops_runner_worker_api_and_redis(
    make_run: Callable[[], Runner],
) -> None:
    make = make_run()
    make.wait_for(READY_LINE)
    pids = _everything(make)

    started = time.monotonic()
    os.killpg(make.proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    _assert_all_gone(make, pids, started)
    assert "SIGINT received" in make.output
    assert make.proc.returncode == -signal.SIGINT
