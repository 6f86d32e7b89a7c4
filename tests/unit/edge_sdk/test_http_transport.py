"""HttpTransport over real loopback HTTP: headers, statuses, network failures, and a whole sync."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from edge_sdk.client import EdgeClient
from edge_sdk.errors import TransportError
from edge_sdk.settings import EdgeSettings
from edge_sdk.sync_client.http import HttpTransport
from edge_sdk.sync_client.outcome import SyncStatus
from edge_sdk.sync_client.transport import TransportRequest
from tests.support.consent import grant_share_aggregates
from tests.unit.edge_sdk.conftest import aggregate
from tests.unit.edge_sdk.fakes import Clock, FakeCloud

SLOW_PATH = "/slow"


class _Server(ThreadingHTTPServer):
    cloud: FakeCloud
    seen: list[dict[str, str]]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.seen.append({k.lower(): v for k, v in self.headers.items()})
        if self.path == SLOW_PATH:
            time.sleep(0.5)
        auth = self.headers.get("Authorization")
        bearer = auth.removeprefix("Bearer ") if auth else None
        request = TransportRequest(self.path, body, self.headers.get("Content-Type", ""), bearer)
        response = self.server.cloud._handle(request)
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("X-Request-ID", self.headers.get("X-Request-ID", "none"))
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)


@pytest.fixture
def server(cloud: FakeCloud) -> Iterator[_Server]:
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.cloud = cloud
    srv.seen = []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join()


def _url(srv: _Server) -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}"


def test_send_carries_headers_and_returns_the_answer(server: _Server, cloud: FakeCloud) -> None:
    transport = HttpTransport(_url(server), timeout_s=5)
    response = transport.send(TransportRequest("/v1/sync", b"\x80", "application/msgpack", "tok"))
    transport.close()
    assert response.status == 401
    assert response.header("Content-Type") == "application/problem+json"
    assert b"token_invalid" in response.body
    seen = server.seen[0]
    assert seen["authorization"] == "Bearer tok"
    assert seen["content-type"] == "application/msgpack"
    assert response.header("x-request-id") == seen["x-request-id"]


def test_refused_connection_is_a_transport_error() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    transport = HttpTransport(f"http://127.0.0.1:{port}", timeout_s=2)
    with pytest.raises(TransportError):
        transport.send(TransportRequest("/v1/sync", b"", "application/msgpack"))
    transport.close()


def test_timeout_is_a_transport_error(server: _Server) -> None:
    transport = HttpTransport(_url(server), timeout_s=0.1)
    with pytest.raises(TransportError):
        transport.send(TransportRequest(SLOW_PATH, b"", "application/msgpack"))
    transport.close()


def test_client_enrolls_and_syncs_over_http(
    server: _Server, cloud: FakeCloud, clock: Clock, tmp_path: Path
) -> None:
    settings = EdgeSettings(base_url=_url(server), db_path=tmp_path / "http.db", clock_ms=clock, timeout_s=5)
    with EdgeClient(settings) as client:
        client.enroll(cloud.new_code("u1"))
        grant_share_aggregates(client)
        client.submit_aggregate(**aggregate("2024-03-01"))
        cloud.add_notice("u1", "n1")
        outcome = client.sync()
        assert outcome.status is SyncStatus.SYNCED
        assert outcome.pushed == 2
        assert [n.notice_id for n in client.notices()] == ["n1"]
    assert cloud.only_device().last_seq == 2
    assert [a.day for a in cloud.users["u1"].aggregates] == ["2024-03-01"]
