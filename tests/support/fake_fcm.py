"""A fake FCM HTTP v1 server on loopback, for running the real firebase-admin code in tests.

It serves ``POST /v1/projects/{project}/messages:send``, records every request (path, headers,
decoded body) and answers each token with success or with the error FCM would send for it:
``fail(token, "UNREGISTERED")`` for every request, or ``fail(token, "QUOTA_EXCEEDED", times=1)``
for the next one only. :func:`noop_credential` is a firebase credential that never fetches a
token, so nothing leaves the machine (for firebase apps inside the test process).

A worker in its own process needs a real credentials file: :func:`write_service_account` writes
a service-account JSON with a fresh RSA key whose ``token_uri`` is this server's ``POST /token``,
which answers the OAuth JWT-bearer grant with a fixed access token. The worker then runs the
unmodified google-auth and firebase-admin code, with ``FCM_CREDENTIALS_FILE`` and
``FCM_ENDPOINT`` pointing here.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
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


TOKEN_PATH: Final = "/token"
JWT_BEARER: Final = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ACCESS_TOKEN: Final = "fake-access-token"
PROJECT_ID: Final = "empathic-credit-test"


class FakeFcm:
    """The server's state: recorded requests and the planned answers per token."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self._plans: dict[str, list[str | None]] = {}
        self._always: dict[str, str] = {}
        self._lock = threading.Lock()
        self.url = ""
        self.token_requests = 0

    def fail(self, token: str, error: str, times: int | None = None) -> None:
        """Answer ``token`` with ``error`` (a key of :data:`ERRORS`): always, or ``times`` times."""
        if error not in ERRORS:
            raise ValueError(f"unknown FCM error {error}")
        with self._lock:
            if times is None:
                self._always[token] = error
            else:
                self._plans.setdefault(token, []).extend([error] * times)

    def clear(self, token: str) -> None:
        """Answer ``token`` with success again (drop its planned and permanent errors)."""
        with self._lock:
            self._plans.pop(token, None)
            self._always.pop(token, None)

    def messages(self) -> list[dict[str, Any]]:
        """The ``message`` objects of every request so far, in arrival order."""
        with self._lock:
            return [r["body"]["message"] for r in self.requests]

    def sent_to(self, token: str) -> list[dict[str, Any]]:
        """The ``message`` objects of every request addressed to ``token``."""
        with self._lock:
            return [r["body"]["message"] for r in self.requests if r["body"]["message"].get("token") == token]

    def grant_token(self, raw: bytes) -> tuple[int, dict[str, Any]]:
        """The OAuth token endpoint: a JWT-bearer grant gets :data:`ACCESS_TOKEN`."""
        form = urllib.parse.parse_qs(raw.decode())
        if form.get("grant_type") != [JWT_BEARER] or not form.get("assertion"):
            return 400, {"error": "invalid_grant", "error_description": "fake FCM: not a JWT-bearer grant"}
        with self._lock:
            self.token_requests += 1
        return 200, {"access_token": ACCESS_TOKEN, "expires_in": 3600, "token_type": "Bearer"}

    def answer(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        auth = {k.lower(): v for k, v in headers.items()}.get("authorization")
        if auth != f"Bearer {ACCESS_TOKEN}":
            denied = {"code": 401, "message": "fake FCM: no valid token", "status": "UNAUTHENTICATED"}
            return 401, {"error": denied}
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
            raw = self.rfile.read(length)
            if self.path == TOKEN_PATH:
                self._reply(*fake.grant_token(raw))
                return
            body = json.loads(raw or b"{}")
            if not (self.path.startswith("/v1/projects/") and self.path.endswith("/messages:send")):
                status, reply = (
                    404,
                    {"error": {"code": 404, "message": "no such path", "status": "NOT_FOUND"}},
                )
            else:
                status, reply = fake.answer(self.path, dict(self.headers.items()), body)
            self._reply(status, reply)

        def _reply(self, status: int, reply: dict[str, Any]) -> None:
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
        self.token = ACCESS_TOKEN

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


def write_service_account(path: Path, fake: FakeFcm, project_id: str = PROJECT_ID) -> Path:
    """Write a service-account JSON for ``fake``: a fresh RSA key, ``token_uri`` on the fake."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    info = {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": "fake-key-1",
        "private_key": pem,
        "client_email": f"push@{project_id}.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": fake.url + TOKEN_PATH,
    }
    path.write_text(json.dumps(info))
    return path
