"""``make run``'s runner on PostgreSQL with two API processes and two workers: it serves, a device
syncs and an accepted offer is applied, and SIGTERM stops every process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cloud.embedded_redis import free_port, popen_child, stop_process
from cloud.runner import READY_LINE
from sync.codec import MediaType, decode_reply, decode_tokens, encode
from sync.limits import PROTOCOL_VERSION
from sync.messages import AcceptOffer, ConsentScope, EnrollRequest, Platform, SetConsent, SyncRequest
from tests.support.postgres import fresh_schema, postgres_server
from tests.support.processes import Runner, alive, command_line, descendants_of

PROFILE = {"currency": "EUR", "limit_cents": 100_000, "used_cents": 0, "rate_bps": 1_990}


@pytest.fixture
def pg_runner(tmp_path: Path) -> Iterator[Runner]:
    with postgres_server() as server, fresh_schema(server) as url:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "ENV")}
        env.update(
            DATA_DIR=str(tmp_path / "data"),
            PORT=str(port),
            HOST="127.0.0.1",
            COLUMNS="200",
            DATABASE_URL=url,
            API_PROCESSES="2",
            WORKER_PROCESSES="2",
        )
        proc = popen_child(
            [sys.executable, "-m", "cloud.runner"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        runner = Runner(proc=proc, port=port, data_dir=tmp_path / "data")
        runner.start_reading()
        try:
            yield runner
        finally:
            if proc.poll() is None:
                stop_process(proc, timeout_s=20)
            if proc.stdout is not None:
                proc.stdout.close()


def _sync(base: str, tokens: object, body: SyncRequest) -> object:
    reply = httpx.post(
        f"{base}/v1/sync",
        content=encode(body, MediaType.JSON),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {tokens.access_token}"},  # type: ignore[attr-defined]
    )
    assert reply.status_code == 200, reply.text
    return decode_reply(reply.content, MediaType.JSON)


def test_runner_on_postgres_with_two_api_processes_and_two_workers(pg_runner: Runner) -> None:
    pg_runner.wait_for(READY_LINE, timeout_s=90)
    assert "2 API, 2 worker" in pg_runner.output
    base = f"http://127.0.0.1:{pg_runner.port}"
    admin = {"Authorization": "Bearer dev-admin-token"}
    with httpx.Client(base_url=base, headers=admin, timeout=10) as client:
        user = client.post("/v1/admin/users", json={}).json()["user_id"]
        code = client.post(f"/v1/admin/users/{user}/enrollment-codes", json={}).json()["code"]
        enrolled = httpx.post(
            f"{base}/v1/devices/enroll",
            content=encode(EnrollRequest(code=code, platform=Platform.ANDROID), MediaType.JSON),
            headers={"Content-Type": "application/json"},
        )
        assert enrolled.status_code == 201, enrolled.text
        tokens = decode_tokens(enrolled.content, MediaType.JSON)
        assert client.post(f"/v1/admin/users/{user}/profile", json=PROFILE).status_code == 200
        terms = {
            "new_limit_cents": 150_000,
            "rate_bps": 1_790,
            "expires_at": time.time_ns() // 1_000_000 + 86_400_000,
        }
        offer = client.post(f"/v1/admin/users/{user}/offers", json=terms).json()["offer"]["offer_id"]
        now = time.time_ns() // 1_000_000
        push = [
            SetConsent(seq=1, created_at=now, scope=ConsentScope.PUSH, granted=False),
            AcceptOffer(seq=2, created_at=now, offer_id=offer),
        ]
        reply = _sync(
            base,
            tokens,
            SyncRequest(protocol=PROTOCOL_VERSION, device_id=tokens.device_id, device_time=now, push=push),
        )  # type: ignore[arg-type]
        assert [r.status for r in reply.results] == ["applied", "applied"]  # type: ignore[attr-defined]
        # A worker applies it.
        deadline = time.monotonic() + 30
        while client.get(f"/v1/admin/users/{user}/view").json()["profile"]["limit_cents"] != 150_000:
            assert time.monotonic() < deadline, "the offer was not applied"
            time.sleep(0.1)
    processes = descendants_of(pg_runner.proc.pid)
    names = " ".join(" ".join(command_line(pid)) for pid in processes if alive(pid))
    assert names.count("cloud.workers") == 2
    pg_runner.proc.send_signal(signal.SIGTERM)
    assert pg_runner.proc.wait(30) == 0
    deadline = time.monotonic() + 20
    while [pid for pid in processes if alive(pid)] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [pid for pid in processes if alive(pid)] == []
