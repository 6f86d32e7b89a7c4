"""A real cloud API process for tests: :func:`cloud.serve.uvicorn_command` on a free port, the same
command line the runner uses.

The server gets its own data folder, a database (``DATABASE_URL`` in ``env``: a PostgreSQL schema
of the tests' own, say; by default the SQLite file ``cloud.sqlite3`` in its data folder), the
Redis URL given, and known admin and JWT secrets. ``kill()`` is ``kill -9``; ``start()`` again
reuses the same data folder, database and port, which is how restart and chaos tests simulate a
crashed server. ``server.database`` is that database's settings (worker processes get the same);
``server.read(...)`` reads it through the store interface, whatever the engine.

Usage::

    with LiveServer(tmp_path, redis_url) as server:
        user_id = server.create_user()
        tokens = server.enroll(server.enrollment_code(user_id))
        server.kill(); server.start()          # crash and restart on the same data
        rows = server.read(lambda store: store.list_outbox())
"""

from __future__ import annotations

import datetime
import os
import signal
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self, TypeVar

import httpx

from cloud.ratelimit import RATE_LIMIT_VARS
from cloud.serve import uvicorn_command
from cloud.settings import DatabaseSettings
from cloud.store import Store
from sync.codec import MediaType, decode_reply, decode_tokens, encode
from sync.limits import PROTOCOL_VERSION
from sync.messages import (
    EnrollRequest,
    FieldMechanism,
    Levels,
    Mechanism,
    Mutation,
    Platform,
    SubmitAggregate,
    SyncReply,
    SyncRequest,
    TokenPair,
)
from tests.support.store import StoreReader

T = TypeVar("T")

ADMIN_TOKEN: Final = "test-admin-token"
JWT_SECRET: Final = "test-jwt-secret-0123456789abcdef0123456789"
JWT_KID: Final = "k1"
_STARTUP_TIMEOUT_S: Final = 20.0
_REPO_ROOT: Final = Path(__file__).resolve().parents[2]
OPERATOR_PASSWORD: Final = "a long operator passphrase"
"""The password :meth:`AdminShortcuts.create_operator` gives an account unless told otherwise."""
UNREACHED_RATE: Final = "1000000/minute"
"""The request limits of a test server unless the test sets its own."""


class LiveServerError(RuntimeError):
    """The server process exited or did not become ready; the message ends with its log tail."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class AdminShortcuts:
    """Admin-API helpers over ``base_url`` with ``admin_token``: a :class:`LiveServer`'s, or a
    balancer's in front of several (the chaos run on PostgreSQL)."""

    admin_token: str
    admin_token_at_start: str = ""
    """The static admin token, once :meth:`sign_in_as_admin` replaced ``admin_token`` by a session's."""
    _admin: httpx.Client | None = None

    @property
    def base_url(self) -> str:
        raise NotImplementedError

    @property
    def admin(self) -> httpx.Client:
        """A client for the admin API with the admin bearer token set."""
        if self._admin is None:
            self._admin = httpx.Client(
                base_url=self.base_url,
                headers={"Authorization": f"Bearer {self.admin_token}"},
                timeout=10.0,
            )
        return self._admin

    def _admin_json(self, method: str, path: str, expected: int, **kwargs: Any) -> Any:
        response = self.admin.request(method, path, **kwargs)
        if response.status_code != expected:
            raise AssertionError(f"{method} {path} -> {response.status_code}: {response.text}")
        return response.json()

    def bootstrap_admin(self, username: str = "root", password: str = OPERATOR_PASSWORD) -> None:
        """The first admin account, with the static admin token (the only use production allows)."""
        response = httpx.post(
            f"{self.base_url}/v1/admin/operators/bootstrap",
            json={"username": username, "password": password},
            headers={"Authorization": f"Bearer {self.admin_token}"},
            timeout=10.0,
        )
        if response.status_code != 201:
            raise AssertionError(f"bootstrap -> {response.status_code}: {response.text}")

    def create_operator(self, username: str, role: str, password: str = OPERATOR_PASSWORD) -> None:
        self._admin_json(
            "POST",
            "/v1/admin/operators",
            201,
            json={"username": username, "password": password, "role": role},
        )

    def login(self, username: str, password: str = OPERATOR_PASSWORD) -> str:
        """An operator's session token (``Authorization: Bearer``)."""
        response = httpx.post(
            f"{self.base_url}/v1/admin/login", json={"username": username, "password": password}, timeout=10.0
        )
        if response.status_code != 200:
            raise AssertionError(f"login {username} -> {response.status_code}: {response.text}")
        token: str = response.json()["token"]
        return token

    def sign_in_as_admin(self, username: str = "root") -> None:
        """Bootstrap an admin account and use its session for the helpers from now on (a
        production server refuses the static admin token for anything else)."""
        self.bootstrap_admin(username)
        self.admin_token_at_start = self.admin_token
        self.admin_token = self.login(username)
        if self._admin is not None:
            self._admin.close()
            self._admin = None

    def create_user(self, external_ref: str | None = None) -> str:
        body = self._admin_json("POST", "/v1/admin/users", 201, json={"external_ref": external_ref})
        user_id: str = body["user_id"]
        return user_id

    def enrollment_code(self, user_id: str, ttl_s: int | None = None) -> str:
        payload = {} if ttl_s is None else {"ttl_s": ttl_s}
        body = self._admin_json("POST", f"/v1/admin/users/{user_id}/enrollment-codes", 201, json=payload)
        code: str = body["code"]
        return code

    def enroll(self, code: str, platform: Platform = Platform.ANDROID) -> TokenPair:
        response = httpx.post(
            f"{self.base_url}/v1/devices/enroll",
            content=encode(EnrollRequest(code=code, platform=platform), MediaType.JSON),
            headers={"Content-Type": MediaType.JSON.value},
            timeout=10.0,
        )
        if response.status_code != 201:
            raise AssertionError(f"enroll -> {response.status_code}: {response.text}")
        return decode_tokens(response.content, MediaType.JSON)

    def new_device(self, user_id: str | None = None, platform: Platform = Platform.ANDROID) -> TokenPair:
        """Enroll a device for ``user_id`` (a new user when ``None``)."""
        return self.enroll(self.enrollment_code(user_id or self.create_user()), platform)

    def add_notice(self, user_id: str, title: str = "hello", kind: str = "info", body: str = "") -> int:
        payload = {"kind": kind, "title": title, "body": body}
        result = self._admin_json("POST", f"/v1/admin/users/{user_id}/notices", 201, json=payload)
        version: int = result["version"]
        return version

    def user_view(self, user_id: str) -> dict[str, Any]:
        view: dict[str, Any] = self._admin_json("GET", f"/v1/admin/users/{user_id}/view", 200)
        return view

    def device(self, device_id: str, user_id: str) -> dict[str, Any]:
        devices = self._admin_json("GET", "/v1/admin/devices", 200, params={"user_id": user_id})["items"]
        for device in devices:
            if device["device_id"] == device_id:
                return dict(device)
        raise AssertionError(f"device {device_id} not listed for {user_id}")


class LiveServer(AdminShortcuts):
    """One cloud API process over a data folder that survives restarts."""

    def __init__(self, data_dir: Path, redis_url: str | None, env: dict[str, str] | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.redis_url = redis_url
        self.extra_env = dict(env or {})
        # Secrets given in ``env`` (a production server's) are the ones the helpers use too.
        self.admin_token = self.extra_env.get("ADMIN_TOKEN", ADMIN_TOKEN)
        self.jwt_secret = self.extra_env.get("JWT_SECRET", JWT_SECRET)
        self.jwt_kid = self.extra_env.get("JWT_KID", JWT_KID)
        self.database = DatabaseSettings(
            self.extra_env.get("DATABASE_URL") or f"sqlite:///{self.data_dir / 'cloud.sqlite3'}"
        )
        """The server's database (its workers' too)."""
        self.port = free_port()
        self.host = "127.0.0.1"
        self.log_path = self.data_dir / "server.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._admin = None
        self._reader: StoreReader | None = None

    # --- lifecycle -----------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        """The running server's process id."""
        if self._process is None:
            raise LiveServerError("not started")
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "ENV")}
        env.update(
            ENV="development",
            DATA_DIR=str(self.data_dir),
            DATABASE_URL=self.database.url,
            ADMIN_TOKEN=self.admin_token,
            JWT_SECRET=self.jwt_secret,
            JWT_KID=self.jwt_kid,
            # Servers of one test run share the suite's Redis: a queue each keeps their jobs apart
            # (an explicit QUEUE_NAME in ``env`` still wins, for tests that start a worker).
            QUEUE_NAME=f"ec:test:{self.data_dir.name}:{id(self)}",
            PYTHONUNBUFFERED="1",
        )
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        # The limiter runs on every request, with limits no test reaches unless it sets its own:
        # tests enroll hundreds of devices from 127.0.0.1 and sync one device many times a second.
        env.update(dict.fromkeys(RATE_LIMIT_VARS, UNREACHED_RATE))
        env.update(self.extra_env)
        return env

    def start(self, timeout_s: float = _STARTUP_TIMEOUT_S, *, ready: bool = True) -> None:
        """Start the process and wait until ``/health/ready`` (``/health/live`` if not ``ready``) is 200."""
        if self.running:
            raise LiveServerError("already running")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = uvicorn_command(self.host, self.port, extra=("--log-level", "warning"))
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command, cwd=_REPO_ROOT, env=self._env(), stdout=log, stderr=subprocess.STDOUT
            )
        self._wait_ready(timeout_s, "/health/ready" if ready else "/health/live")

    def _wait_ready(self, timeout_s: float, probe: str) -> None:
        deadline = time.monotonic() + timeout_s
        with httpx.Client(base_url=self.base_url, timeout=1.0) as client:
            while time.monotonic() < deadline:
                if not self.running:
                    raise LiveServerError(f"server exited with {self._exit_code()}\n{self.log_tail()}")
                try:
                    if client.get(probe).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        self.kill()
        raise LiveServerError(f"server not ready after {timeout_s} s\n{self.log_tail()}")

    def _exit_code(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def kill(self) -> None:
        """``kill -9``: no shutdown hooks run, as in a crash."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait(10)
        self._process = None

    def stop(self, timeout_s: float = 10.0) -> None:
        """Graceful stop (SIGTERM), falling back to ``kill -9``."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)
        self._process = None

    def restart(self, hard: bool = True) -> None:
        """Kill (``kill -9`` when ``hard``) and start again on the same data folder and port."""
        if hard:
            self.kill()
        else:
            self.stop()
        self.start()

    def close(self) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self.stop()

    def read(self, call: Callable[[Store], Awaitable[T]]) -> T:
        """``call(store)`` on a store opened on the server's database (kept open until :meth:`close`)."""
        if self._reader is None:
            self._reader = StoreReader(self.database)
        return self._reader.read(call)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


# --- raw HTTP for tests that need exact control over what is sent -----------------------


def sample_aggregate(
    seq: int, day: str = "2024-01-01", created_at: int = 1_704_067_200_000
) -> SubmitAggregate:
    """A valid ``SubmitAggregate`` for tests."""
    mechanism = FieldMechanism(k=4, epsilon=1.0)
    return SubmitAggregate(
        seq=seq,
        created_at=created_at,
        day=day,
        tz_offset_min=60,
        window_bucket=3,
        levels=Levels(stress=1, valence=2, arousal=3),
        mechanism=Mechanism(stress=mechanism, valence=mechanism, arousal=mechanism),
        model_version="m1",
    )


def day_of(index: int) -> str:
    """``2024-01-01`` plus ``index`` days."""
    return (datetime.date(2024, 1, 1) + datetime.timedelta(days=index)).isoformat()


def sync_body(
    device_id: str,
    mutations: Sequence[Mutation] = (),
    media: MediaType = MediaType.MSGPACK,
    *,
    cursor: str | None = None,
    pull_limit: int = 200,
    protocol: int = PROTOCOL_VERSION,
    device_time: int | None = None,
) -> bytes:
    """Encode a ``SyncRequest``."""
    request = SyncRequest(
        protocol=protocol,
        device_id=device_id,
        device_time=device_time if device_time is not None else time.time_ns() // 1_000_000,
        push=list(mutations),  # type: ignore[arg-type]
        cursor=cursor,
        pull_limit=pull_limit,
    )
    return encode(request, media)


def post_sync(
    server: AdminShortcuts,
    access_token: str | None,
    body: bytes,
    media: MediaType | str = MediaType.MSGPACK,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST raw bytes to ``/v1/sync`` with the device's bearer token (none when ``None``)."""
    out = {"Content-Type": str(media)}
    if access_token is not None:
        out["Authorization"] = f"Bearer {access_token}"
    out.update(headers or {})
    return httpx.post(f"{server.base_url}/v1/sync", content=body, headers=out, timeout=30.0)


def sync_ok(
    server: AdminShortcuts,
    tokens: TokenPair,
    mutations: Sequence[Mutation] = (),
    media: MediaType = MediaType.MSGPACK,
    **kwargs: Any,
) -> SyncReply:
    """One successful exchange, decoded."""
    response = post_sync(
        server, tokens.access_token, sync_body(tokens.device_id, mutations, media, **kwargs), media
    )
    if response.status_code != 200:
        raise AssertionError(f"sync -> {response.status_code}: {response.text}")
    assert response.headers["content-type"].startswith(media.value)
    return decode_reply(response.content, media)
