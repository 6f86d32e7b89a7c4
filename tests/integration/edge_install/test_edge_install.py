"""The edge install stands alone: the SDK's wheel, installed with the core ``edge`` extra into a
fresh virtualenv, offline, from the wheels ``make`` fetched once (``.cache/edge-wheels``), runs a
phone's life against a live server through ``mobile_bridge`` with the host as the inference backend:
enroll, record, process, release, sync, accept. Nothing of the cloud's or training's dependencies,
and no Python TFLite runtime, is installed or imported."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ecs.fleet.activity import batches, simulate_day
from edge_sdk.inference.backends import LiteRTBackend
from edge_sdk.privacy.scores import local_day
from tests.integration.bridge.test_bridge_live import PROFILE, SESSIONS, new_offer, wire_events
from tests.integration.scenarios.devices import DAY_MS
from tests.integration.scenarios.test_scenario_pipeline import offset_for_local_evening
from tests.support.live_server import LiveServer

ROOT = Path(__file__).resolve().parents[3]
WHEELS = ROOT / ".cache" / "edge-wheels"
PHONE = Path(__file__).with_name("phone.py")
NOT_SOURCE = (".git", ".venv*", ".cache", "build", "dist", "data", "*.egg-info", "*_cache", "__pycache__")


def _run(*args: str | Path, cwd: Path) -> None:
    done = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{args[:4]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


@pytest.fixture(scope="module")
def edge_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv holding ``empathic-credit[edge]`` built from this checkout; its python."""
    if not (WHEELS / ".stamp").exists():
        pytest.fail(
            f"{WHEELS} is missing: `make {WHEELS.relative_to(ROOT)}/.stamp` fetches it (make test does)"
        )
    work = tmp_path_factory.mktemp("edge-install")
    offline = ["--no-index", "--find-links", str(WHEELS)]
    # From a copy: a build in the checkout would leave (and reuse) its build/ folder there.
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    # Built offline too: the build backend (setuptools) comes from the fetched wheels.
    _run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--quiet",
        "--no-deps",
        *offline,
        "-w",
        work / "dist",
        source,
        cwd=work,
    )
    _run(sys.executable, "-m", "venv", work / "venv", cwd=work)
    python = work / "venv" / "bin" / "python"
    _run(
        python, "-m", "pip", "install", "--quiet", *offline, "--find-links", work / "dist",
        "empathic-credit[edge]", cwd=work,
    )  # fmt: skip
    return python


@pytest.fixture(scope="module")
def server(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with LiveServer(tmp_path_factory.mktemp("edge-install-cloud"), redis_url) as live:
        yield live


def test_the_installed_edge_lives_a_phone_day(edge_python: Path, server: LiveServer, tmp_path: Path) -> None:
    user_id = server.create_user()
    assert server.admin.post(f"/v1/admin/users/{user_id}/profile", json=PROFILE).status_code == 200
    now = int(time.time() * 1000)
    offer_id = new_offer(server, user_id, now)
    offset = offset_for_local_evening(now)
    yesterday = local_day(now - DAY_MS, offset)
    sessions = simulate_day(np.random.default_rng(9), yesterday, offset, sessions=SESSIONS)
    config = {
        "data_dir": str(tmp_path / "phone"),
        "server_url": server.base_url,
        "code": server.enrollment_code(user_id),
        "offset": offset,
        "batches": list(batches(wire_events(sessions))),
    }
    config_file = tmp_path / "phone-config.json"
    config_file.write_text(json.dumps(config), encoding="utf-8")
    native = LiteRTBackend()  # the phone's own runtime, in this process
    loaded: str | None = None
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    result: dict[str, Any] | None = None
    inferences = 0
    with subprocess.Popen(
        [str(edge_python), "-I", str(PHONE), str(config_file)],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        assert child.stdin is not None and child.stdout is not None
        for line in child.stdout:
            if line.startswith("INFER "):
                request = json.loads(line[6:])
                if request["modelSha256"] != loaded:
                    native.load(Path(request["modelPath"]).read_bytes())
                    loaded = request["modelSha256"]
                outputs = native.predict(np.asarray(request["inputs"], dtype=np.float32))
                child.stdin.write(json.dumps({"outputs": outputs.tolist()}) + "\n")
                child.stdin.flush()
                inferences += 1
            elif line.startswith("RESULT "):
                result = json.loads(line[7:])
        assert child.wait(timeout=120) == 0
    assert result is not None
    assert result["present_but_should_not_be"] == [] and result["loaded_but_should_not_be"] == []
    assert str(edge_python.parents[1]) in result["bridge_file"]  # the installed copy, not the checkout
    replies = result["replies"]
    failed = {m: [r for r in rs if not r["ok"]] for m, rs in replies.items() if any(not r["ok"] for r in rs)}
    assert failed == {}
    assert replies["process"][0]["result"]["stored"] == SESSIONS and inferences >= 2
    assert [d["day"] for d in replies["releaseDailyAggregates"][0]["result"]["released"]] == [yesterday]
    assert replies["sync"][0]["result"]["offersChanged"] is True
    assert "offersChanged" in result["events"]
    assert [a["day"] for a in server.user_view(user_id)["aggregates"]] == [yesterday]
    offer = server.read(lambda store: store.get_offer(offer_id))
    assert offer is not None and offer.status in {"accepted", "applied"}
