"""``make run``'s demo, at a small size: on a new data folder the runner seeds users, runs the fleet
of simulated phones through the mobile bridge while its worker evaluates and applies, prints the
summary, then serves; on the same folder again it skips the demo; DEMO=0 turns it off (when it may
run at all: tests/unit/cloud/test_runner_demo.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from cloud.embedded_redis import popen_child, stop_process
from tests.support.live_server import free_port
from tests.support.processes import Runner

READY_LINE = "is ready. Press Ctrl-C to stop."


def start(data_dir: Path, **extra: str) -> Runner:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL", "ENV", "DEMO")}
    env.update(DATA_DIR=str(data_dir), PORT=str(port), HOST="127.0.0.1", COLUMNS="100", **extra)
    proc = popen_child(
        [sys.executable, "-m", "cloud.runner"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    runner = Runner(proc=proc, port=port, data_dir=data_dir)
    runner.start_reading()
    return runner


def wait_for(runner: Runner, text: str, timeout_s: float) -> str:
    runner.wait_for(text, timeout_s)
    return runner.output


def stop(runner: Runner) -> int:
    code = stop_process(runner.proc, timeout_s=20)
    runner.close()
    return code


def test_the_demo_runs_once_on_a_new_data_folder(tmp_path: Path) -> None:
    small = {"DEMO_USERS": "3", "DEMO_DEVICES": "2", "DEMO_DAYS": "3"}
    runner = start(tmp_path / "data", **small)  # DEMO unset: on by default
    try:
        output = wait_for(runner, READY_LINE, 180)
        assert "Demo: seeding 3 users" in output and "Demo: 2 simulated phones" in output
        assert "2 phones, 3 days" in output  # the fleet's summary table
        assert "daily aggregates the cloud holds" in output
        # The demo came before the URLs: they are the last thing printed.
        assert output.index("2 phones, 3 days") < output.index(READY_LINE)
        live = httpx.get(f"http://127.0.0.1:{runner.port}/health/ready", timeout=5)
        assert live.status_code == 200
    finally:
        assert stop(runner) == 0
    again = start(tmp_path / "data", **small)
    try:
        output = wait_for(again, READY_LINE, 60)
        assert "Demo:" not in output  # an existing data folder is left as it is
    finally:
        stop(again)


def test_demo_0_turns_it_off(tmp_path: Path) -> None:
    off = start(tmp_path / "off", DEMO="0")
    try:
        assert "Demo:" not in wait_for(off, READY_LINE, 60)
    finally:
        stop(off)
