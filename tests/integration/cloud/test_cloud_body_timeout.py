"""A request body that stops short of its Content-Length is answered and the connection closed within
``BODY_READ_TIMEOUT_S``; a slow but steady body still gets through. Raw sockets, a real server."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest

from sync.codec import MediaType, encode
from sync.messages import EnrollRequest, Platform
from tests.support.live_server import LiveServer

TIMEOUT_S = 1.0
# Answer, close and scheduling slack on a busy machine; without the bound the socket waits forever.
BOUND_S = TIMEOUT_S + 3.0


@pytest.fixture(scope="module")
def server(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    env = {"BODY_READ_TIMEOUT_S": str(TIMEOUT_S)}
    with LiveServer(tmp_path_factory.mktemp("body-timeout"), redis_url, env=env) as live:
        yield live


def _head(server: LiveServer, length: int, *, close: bool = False) -> bytes:
    connection = "Connection: close\r\n" if close else ""
    return (
        f"POST /v1/devices/enroll HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n{connection}"
        f"Content-Type: {MediaType.JSON.value}\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def _read_until_closed(sock: socket.socket, deadline: float) -> bytes:
    data = b""
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            return data
        data += chunk
    pytest.fail(f"connection still open after {BOUND_S} s; received {data!r}")


def _split(reply: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = reply.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


def test_a_body_that_stops_short_is_answered_400_and_closed_within_the_timeout(server: LiveServer) -> None:
    code = server.enrollment_code(server.create_user())
    body = encode(EnrollRequest(code=code, platform=Platform.ANDROID), MediaType.JSON)
    # A kept-alive connection: closing it after the answer is the server's own decision.
    with socket.create_connection((server.host, server.port), timeout=BOUND_S) as sock:
        sock.sendall(_head(server, 1000) + body[:10])
        started = time.monotonic()
        reply = _read_until_closed(sock, started + BOUND_S)
        elapsed = time.monotonic() - started
    assert TIMEOUT_S * 0.9 <= elapsed < BOUND_S, elapsed
    status, headers, content = _split(reply)
    assert status.startswith("HTTP/1.1 400 "), reply
    assert headers["content-type"] == "application/problem+json"
    assert headers["connection"] == "close"
    assert headers["x-content-type-options"] == "nosniff"
    problem = json.loads(content)
    assert problem["code"] == "invalid_body"
    assert problem["request_id"] == headers["x-request-id"]
    # Nothing changed: the code was not spent, and the server still serves.
    assert server.enroll(code).device_id


def test_a_slow_but_steady_body_is_not_cut_off(server: LiveServer) -> None:
    code = server.enrollment_code(server.create_user())
    body = encode(EnrollRequest(code=code, platform=Platform.ANDROID), MediaType.JSON)
    pieces = [body[:10], body[10:20], body[20:30], body[30:]]
    with socket.create_connection((server.host, server.port), timeout=BOUND_S) as sock:
        # Connection: close, so the complete answer is followed by the server closing.
        sock.sendall(_head(server, len(body), close=True))
        for piece in pieces:
            # Each pause is below the bound; all of them together are above it.
            time.sleep(TIMEOUT_S * 0.4)
            sock.sendall(piece)
        reply = _read_until_closed(sock, time.monotonic() + BOUND_S)
    status, _, content = _split(reply)
    assert status.startswith("HTTP/1.1 201 "), reply
    assert json.loads(content)["device_id"]
