"""``ecs simulate`` against a real cloud with a real worker: a small fleet lives a few days through
the bridge; the summary adds up with what the cloud holds, and the same seed makes the same fleet."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ecs.fleet import FleetConfig, simulate
from tests.support.live_server import LiveServer
from tests.support.worker import private_stack, worker_process


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("ecs-cloud")
    with (
        private_stack(folder, OUTBOX_RELAY_TIMEOUT_S="0.3") as server,
        worker_process(server, server.extra_env["QUEUE_NAME"], folder / "worker.log"),
    ):
        yield server


def run_cli(server: LiveServer, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ecs.cli", "--json", "simulate", "--server", server.base_url,
         "--admin-token", server.admin_token, "--data-dir", str(tmp_path), *args],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_a_small_fleet_lives_through_the_bridge(cloud: LiveServer, tmp_path: Path) -> None:
    done = run_cli(
        cloud, tmp_path / "a", "--devices", "3", "--days", "4", "--evaluate-every", "2", "--seed", "11"
    )
    assert done.returncode == 0, done.stderr[-2000:]
    summary: dict[str, Any] = json.loads(done.stdout)
    assert summary["devices"] == 3 and summary["days"] == 4
    assert sum(summary["personas"].values()) == 3
    assert summary["events"] > 0 and summary["windows"] > 0
    # Every released day reached the cloud (all phones sync at the end), none twice.
    assert summary["aggregates_synced"] == summary["aggregates_released"] > 0
    assert summary["epsilon_spent"] == pytest.approx(summary["aggregates_released"] * 1.0)
    assert summary["evaluations"] >= 3 and summary["offers_seen"] >= 1
    assert summary["offers_applied"] <= summary["offers_accepted"] <= summary["offers_seen"]
    assert summary["sync_requests"] >= 3 * 2 and summary["bytes_up"] > 0 and summary["bytes_down"] > 0


def test_the_same_seed_makes_the_same_fleet(cloud: LiveServer, tmp_path: Path) -> None:
    def fleet(folder: str) -> dict[str, Any]:
        config = FleetConfig(
            server_url=cloud.base_url,
            admin_token=cloud.admin_token,
            data_dir=tmp_path / folder,
            devices=2,
            days=2,
            seed=5,
            evaluate_every=99,
        )
        summary = simulate(config)
        keep = ("personas", "events", "windows", "aggregates_released", "epsilon_spent", "offline_days")
        return {k: getattr(summary, k) for k in keep}

    assert fleet("one") == fleet("two")


def test_phones_killed_mid_sync_every_day_lose_nothing(cloud: LiveServer, tmp_path: Path) -> None:
    config = FleetConfig(
        server_url=cloud.base_url,
        admin_token=cloud.admin_token,
        data_dir=tmp_path,
        devices=2,
        days=3,
        seed=3,
        evaluate_every=2,
        restart_chance=1.0,
    )
    summary = simulate(config)
    assert summary.restarts == 2 * 3
    # Every push whose reply was lost was resent and counted once.
    assert summary.aggregates_synced == summary.aggregates_released > 0


def test_a_cloud_that_refuses_the_operator_exits_1(cloud: LiveServer, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ecs.cli", "simulate", "--server", cloud.base_url, "--admin-token", "wrong",
         "--devices", "1", "--days", "1", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "POST /users -> 401" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
