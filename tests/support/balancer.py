"""A round-robin HTTP load balancer for tests that run several API processes on one database.

It stands where a production load balancer stands (``docs/operations.md``, scale-out): each
request goes to the next backend in turn, so one device's consecutive requests land on different
processes. A backend that refuses the connection (a killed process) is skipped, as a proxy does
when nothing was sent; a backend that dies after the request went out answers ``502`` through the
balancer, which the SDK treats as a transient failure. ``last_backend`` is the index of the
backend that answered the latest request (the chaos harness kills the one that committed).

Written here rather than taken from a library: it is ~100 lines over :mod:`http.server` and
httpx, and a real proxy (nginx, HAProxy) would be one more system package for the tests only.
"""

from __future__ import annotations

import itertools
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self

import httpx

_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "content-length"}
)


class RoundRobinBalancer:
    """An HTTP/1.1 reverse proxy on a free loopback port over ``backends`` (base URLs)."""

    def __init__(self, backends: list[str], timeout_s: float = 15.0) -> None:
        if not backends:
            raise ValueError("a balancer needs at least one backend")
        self.backends = list(backends)
        self.last_backend: int | None = None
        self._turn = itertools.cycle(range(len(backends)))
        self._lock = threading.Lock()
        self._clients = [httpx.Client(base_url=url, timeout=timeout_s) for url in backends]
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="balancer", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        for client in self._clients:
            client.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def forward(self, method: str, path: str, headers: list[tuple[str, str]], body: bytes) -> httpx.Response:
        """Send the request to the next backend that accepts a connection; ``502`` when none
        does or the one that took it failed before answering."""
        with self._lock:
            first = next(self._turn)
        count = len(self.backends)
        for index in ((first + i) % count for i in range(count)):
            try:
                response = self._clients[index].request(method, path, headers=headers, content=body)
            except httpx.ConnectError:
                continue  # nothing was sent: the next backend may take it
            except httpx.TransportError:
                break  # sent, and the backend died before its answer
            self.last_backend = index
            return response
        return httpx.Response(502, content=b"bad gateway\n", headers={"content-type": "text/plain"})

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        balancer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _proxy(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = [(k, v) for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP]
                headers = [(k, v) for k, v in headers if k.lower() != "host"]
                response = balancer.forward(self.command, self.path, headers, body)
                self.send_response_only(response.status_code)
                for key, value in response.headers.multi_items():
                    if key.lower() not in _HOP_BY_HOP and key.lower() != "content-encoding":
                        self.send_header(key, value)
                self.send_header("content-length", str(len(response.content)))
                self.end_headers()
                self.wfile.write(response.content)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _proxy

            def log_message(self, format: str, *args: object) -> None:
                return None

        return Handler
