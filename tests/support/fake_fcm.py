"""A fake FCM HTTP v1 server on loopback, for running the real firebase-admin code in tests.

It serves ``POST /v1/projects/{project}/messages:send``, records every request (path, headers,
decoded body) and answers each token with success or with the error FCM would send for it:
``fail(token, "UNREGISTERED")`` for every request, or ``fail(token, "QUOTA_EXCEEDED", times=1)``
for the next one only. :func:`noop_credential` is a firebase credential that never fetches a
token, so nothing leaves the machine.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final

import google.auth.credentials
from firebase_admin import credentials

# FCM v1 error classes: HTTP status, google.rpc status, FcmError errorCode.
ERRORS: Final[dict[str, tuple[int, str]]] = {
    "UNREGISTERED": (404, "NOT_FOUND"),
    "INVALID_ARGUMENT": (400, "INVALID_ARGUMENT"),
    "SENDER_ID_MISMATCH": (403, "PERMISSION_DENIED"),
    "QUOTA_EXCEEDED": (429, "RESOURCE_EXHAUSTED"),
    "UNAVAILABLE": (503, "UNAVAILABLE"),
}


class FakeFcm:
    """The server's state: recorded requests and the planned answers per token."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self._plans: dict[str, list[str | None]] = {}
        self._always: dict[str, str] = {}
        self._lock = threading.Lock()
        self.url = ""

    def fail(self, token: str, error: str, times: int | None = None) -> None:
        """Answer ``token`` with ``error`` (a key of :data:`ERRORS`): always, or ``times`` times."""
        if error not in ERRORS:
            raise ValueError(f"unknown FCM error {error}")
        with self._lock:
            if times is None:
                self._always[token] = error
            else:
                self._plans.setdefault(token, []).extend([error] * times)

    def sent_to(self, token: str) -> list[dict[str, Any]]:
        """The ``message`` objects of every request addressed to ``token``."""
        with self._lock:
            return [r["body"]["message"] for r in self.requests if r["body"]["message"].get("token") == token]

    def answer(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        token = body.get("message", {}).get("token")
        with self._lock:
            self.requests.append({"path": path, "headers": headers, "body": body})
            n = len(self.requests)
            planned = self._plans.get(token)
            error = planned.pop(0) if planned else self._always.get(token)
        if error is None:
            project = path.split("/")[3]
            return 200, {"name": f"projects/{project}/messages/m{n}"}
        status, rpc = ERRORS[error]
        return status, {
            "error": {
                "code": status,
                "message": f"fake FCM: {error}",
                "status": rpc,
                "details": [
                    {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": error}
                ],
            }
        }


def _handler(fake: FakeFcm) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            if not (self.path.startswith("/v1/projects/") and self.path.endswith("/messages:send")):
                status, reply = (
                    404,
                    {"error": {"code": 404, "message": "no such path", "status": "NOT_FOUND"}},
                )
            else:
                status, reply = fake.answer(self.path, dict(self.headers.items()), body)
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler


@contextmanager
def fake_fcm_server() -> Iterator[FakeFcm]:
    """Run a :class:`FakeFcm` on ``127.0.0.1`` (a free port) for the ``with`` block; ``.url`` is its base."""
    fake = FakeFcm()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="fake-fcm", daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class _StaticToken(google.auth.credentials.Credentials):
    """A Google credential with a fixed token whose refresh does nothing (no OAuth round trip)."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.token = "fake-access-token"

    def refresh(self, request: Any) -> None:
        return None

    @property
    def valid(self) -> bool:
        return True


class NoopCredential(credentials.Base):  # type: ignore[misc]
    def get_credential(self) -> google.auth.credentials.Credentials:
        return _StaticToken()


def noop_credential() -> credentials.Base:
    """A firebase credential for the fake server: never contacts Google."""
    return NoopCredential()
