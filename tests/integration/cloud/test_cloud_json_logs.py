"""``LOG_FORMAT=json``: every line the API writes is one JSON object, and a request's lines carry
its request id (lines outside a request: ``null``)."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.live_server import LiveServer
from tests.support.worker import worker_process

TIMEOUT_S = 0.5


@pytest.fixture(scope="module")
def server(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    env = {"LOG_FORMAT": "json", "BODY_READ_TIMEOUT_S": str(TIMEOUT_S)}
    with LiveServer(tmp_path_factory.mktemp("json-logs"), redis_url, env=env) as live:
        yield live


def test_every_line_is_json_and_a_request_line_carries_its_id(server: LiveServer) -> None:
    # A body that stops short is logged (INFO) inside its request.
    head = (
        f"POST /v1/devices/enroll HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n"
        "Content-Type: application/json\r\nContent-Length: 100\r\nX-Request-ID: json-log-check-1\r\n\r\n{"
    )
    with socket.create_connection((server.host, server.port), timeout=TIMEOUT_S + 5) as sock:
        sock.sendall(head.encode())
        assert sock.recv(65536).startswith(b"HTTP/1.1 400 ")
    deadline = time.monotonic() + 5
    while "json-log-check-1" not in server.log_tail(200) and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = [line for line in server.log_tail(200).splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line parses
    assert all({"time", "level", "logger", "request_id", "message"} <= set(r) for r in records)
    assert any(r["logger"] == "cloud.app" and r["request_id"] is None for r in records)  # start-up
    mine = {r["logger"]: r for r in records if r["request_id"] == "json-log-check-1"}
    # The stall and the problem answered for it, both inside the request.
    assert set(mine) == {"cloud.body_timeout", "cloud.problems"}
    assert "stalled" in mine["cloud.body_timeout"]["message"]
    assert "400 invalid_body" in mine["cloud.problems"]["message"]


def test_an_unknown_log_format_is_refused_naming_the_variable(tmp_path: object) -> None:
    from cloud.settings import load_settings

    with pytest.raises(ValueError, match=r"^LOG_FORMAT must be one of text, json, got 'xml'"):
        load_settings({"LOG_FORMAT": "xml"})


def test_a_worker_writes_json_lines_too(server: LiveServer, tmp_path: Path) -> None:
    queue = f"json-logs-{uuid.uuid4().hex}"
    with worker_process(server, queue, tmp_path / "worker.log", LOG_FORMAT="json") as worker:
        worker.wait_ready()
        out = worker.stop()
    lines = [line for line in out.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # arq's lines and ours, every one
    assert any(r["logger"] == "cloud.workers" and "worker ready" in r["message"] for r in records)
    assert any(r["logger"].startswith("arq") for r in records)
