"""Every setting the cloud reads from its environment, declared once: name, meaning, type, bounds
and default together (:data:`VARS`).

:func:`cloud.settings.load_settings` reads each through its declaration (a number's default and
bounds come from here, nowhere else), and the settings table of ``docs/operations.md`` is
:func:`render_table` (a test compares them). A variable the loader reads and this module does not
declare, or the other way round, fails a test too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Kind = Literal["int", "float", "unit", "bool", "text"]

_HOUR_S: Final = 3600
_DAY_S: Final = 24 * _HOUR_S

MIN_OUTBOX_ATTEMPTS: Final = 2
"""Fewest ``OUTBOX_MAX_ATTEMPTS`` accepted. Attempt 0 is the API's enqueue right after the commit; a
deferred promotional push row is never enqueued then, so its first send is attempt 1 (the relay,
once ``not_before`` passes). With a limit of 1 the relay would dead-letter it there, unsent."""
MAX_CODE_TTL_S: Final = 30 * _DAY_S
"""Longest enrollment code lifetime, the same ceiling the admin API puts on a code's ``ttl_s``."""
MAX_ACCEPT_WINDOW_S: Final = 30 * _DAY_S
"""Ceiling of ``OFFER_ACCEPT_GRACE_S`` and ``OFFER_MAX_CLOCK_SKEW_S``."""
MAX_BODY_READ_TIMEOUT_S: Final = 300
"""Ceiling of ``BODY_READ_TIMEOUT_S``: longer is no bound a client could tell from none."""
MAX_PUSH_RETRY_BASE_S: Final = 15 * 60
"""Ceiling of ``PUSH_RETRY_BASE_S``: the back-off is capped at 15 min anyway
(:data:`cloud.push.messages.RETRY_CAP_MS`)."""

_BOOL_WORDS: Final = "`1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`"


@dataclass(frozen=True, slots=True)
class Var:
    """One environment variable.

    ``int``: an integer in ``low..high``; ``float``: a finite number in ``(0, high]``; ``unit``: a
    number in ``(0, 1)``; ``bool``: the words of :data:`_BOOL_WORDS`; ``text``: read as given (its
    checks are the loader's). For the first four ``default`` is the value when unset, and
    ``accepted`` / ``default_doc`` only add a note to what the table derives; for ``text`` they
    are the table's cells.
    """

    name: str
    meaning: str
    kind: Kind
    default: int | float | bool | None = None
    low: int = 0
    high: float = 0
    accepted: str = ""
    default_doc: str = ""

    def accepted_cell(self) -> str:
        if self.kind == "int":
            return f"{self.low}..{int(self.high)}{self.accepted}"
        if self.kind == "float":
            return f"(0, {_number(self.high)}]{self.accepted}"
        if self.kind == "unit":
            return f"(0, 1){self.accepted}"
        if self.kind == "bool":
            return f"{_BOOL_WORDS}{self.accepted}"
        return self.accepted

    def default_cell(self) -> str:
        if self.kind == "text" or self.default is None:
            return self.default_doc
        if self.kind == "bool":
            return "on" if self.default else "off"
        return f"`{_number(self.default)}`{self.default_doc}"


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


VARS: Final[tuple[Var, ...]] = (
    Var(
        "ENV",
        (
            "`development` or `production`; production refuses to start unless `ADMIN_TOKEN`, `JWT_SECRET` "
            "and (if set) `REFRESH_DERIVATION_KEY` and `JWT_PREVIOUS_KEYS` follow the"
            " [production secrets](#production-secrets) rule"
        ),
        "text",
        accepted="`development` or `production`, exactly (`prod`, `Production` … are refused)",
        default_doc="`development`",
    ),
    Var(
        "DATA_DIR",
        "folder for the SQLite file and the embedded Redis",
        "text",
        accepted="a path",
        default_doc="`./data` (`make run` passes `DATA_DIR=data`)",
    ),
    Var(
        "RIGHTS_JOURNAL_DIR",
        (
            "folder of the rights journal: consent revocations and erasures, replayed after a restore"
            " from a backup; keep it on other storage than the database"
        ),
        "text",
        accepted="a path",
        default_doc="`$DATA_DIR/journal`",
    ),
    Var(
        "DATABASE_URL",
        "`sqlite:///path` (the embedded default) or `postgresql://user@host/db` (scale-out, see below)",
        "text",
        accepted="see below",
        default_doc="`sqlite:///$DATA_DIR/cloud.sqlite3`",
    ),
    Var(
        "DATABASE_POOL_SIZE",
        (
            "PostgreSQL: most connections one API or worker process holds (its pool); SQLite keeps one "
            "connection per process"
        ),
        "int",
        default=8,
        low=1,
        high=100,
    ),
    Var(
        "SQLITE_WAL_LIMIT_MB",
        (
            "SQLite: a passive checkpoint runs every 0.1 s off the request path; when the WAL holds more than"
            " this, the process's next write first copies what those left (one write waits for it, tens of ms"
            " at most), the WAL starts over and its file is cut back to this size"
        ),
        "int",
        default=64,
        low=1,
        high=4096,
    ),
    Var(
        "DEMO",
        (
            "`make run` on a new data folder (the embedded SQLite, not production) seeds `DEMO_USERS` users "
            "and runs `DEMO_DEVICES` simulated phones through `DEMO_DAYS` days (`ecs simulate`), prints the "
            "summary, then keeps serving; `DEMO=0` turns it off"
        ),
        "bool",
        default=True,
    ),
    Var(
        "DEMO_USERS",
        "users the demo seeds (`python -m cloud.seed`)",
        "int",
        default=50,
        low=0,
        high=2000,
    ),
    Var(
        "DEMO_DEVICES",
        "simulated phones of the demo",
        "int",
        default=10,
        low=1,
        high=200,
    ),
    Var(
        "DEMO_DAYS",
        "days the demo's phones live, ending today",
        "int",
        default=30,
        low=1,
        high=90,
    ),
    Var(
        "API_PROCESSES",
        "API processes `make run` starts, sharing its one port (uvicorn `--workers`); each is stateless",
        "int",
        default=1,
        low=1,
        high=64,
    ),
    Var(
        "WORKER_PROCESSES",
        (
            "arq worker processes `make run` starts; each runs jobs, the crons (each tick once across all) "
            "and a relay"
        ),
        "int",
        default=1,
        low=1,
        high=64,
    ),
    Var(
        "REDIS_URL",
        "Redis to use; unset = the runner starts the embedded one",
        "text",
        accepted="a Redis URL",
        default_doc="unset",
    ),
    Var(
        "HOST",
        "API bind address",
        "text",
        accepted="an address",
        default_doc="`127.0.0.1`",
    ),
    Var(
        "PORT",
        "API bind port",
        "int",
        default=8000,
        low=1,
        high=65_535,
    ),
    Var(
        "LOG_FORMAT",
        (
            "how the API and the workers write log lines: `text`, one readable line, or `json`, one "
            "JSON object per line (`time`, `level`, `logger`, `request_id`, `message`, and `exception` "
            "when there is one); a request's lines carry its request id either way"
        ),
        "text",
        accepted="`text`, `json`",
        default_doc="`text`",
    ),
    Var(
        "ACCESS_LOG",
        (
            "uvicorn's access-log line for every request. Off by default: it costs event-loop time on every "
            "sync; with the root log level at DEBUG each request is logged instead as `METHOD path -> status "
            "(ms)` with its request id"
        ),
        "bool",
        default=False,
    ),
    Var(
        "API_DOCS",
        (
            "serve the Swagger UI page `/schema/swagger` and its files; the OpenAPI document "
            "(`/schema/openapi.json`) is served either way ([API documentation](#api-documentation))"
        ),
        "bool",
        default=None,
        default_doc="on in development, off in production",
    ),
    Var(
        "BODY_READ_TIMEOUT_S",
        (
            "longest wait for the next piece of a request body (a client that announced a `Content-Length` "
            "and stopped sending): then `400` problem+json (`invalid_body`, nothing changed) and the "
            "connection is closed. Per wait, not for the whole body, so a slow but steady upload gets through"
        ),
        "float",
        default=10.0,
        high=MAX_BODY_READ_TIMEOUT_S,
    ),
    Var(
        "ADMIN_TOKEN",
        (
            "static admin credential: in development it opens the admin API (`/v1/admin/…`);"
            " production accepts it only to create the first operator account (see"
            " [operator accounts](#operator-accounts))"
        ),
        "text",
        accepted="production: see [production secrets](#production-secrets)",
        default_doc="a development value",
    ),
    Var(
        "JWT_SECRET",
        "HS256 key of device access tokens",
        "text",
        accepted="production: see [production secrets](#production-secrets)",
        default_doc="a development value",
    ),
    Var(
        "JWT_KID",
        "key id (`kid` header) of device access tokens",
        "text",
        accepted="any",
        default_doc="`k1`",
    ),
    Var(
        "JWT_PREVIOUS_KEYS",
        (
            "earlier signing keys as `kid:secret` pairs, comma-separated: access tokens they signed verify"
            " until they expire, new ones are signed with `JWT_SECRET` (see [key rotation](#key-rotation))"
        ),
        "text",
        accepted="`kid:secret,…`; each kid differs from `JWT_KID`; production: each secret as `JWT_SECRET`",
        default_doc="none",
    ),
    Var(
        "REFRESH_DERIVATION_KEY",
        (
            "key the successor of a spent refresh token is derived under, so a replay after a lost reply "
            "derives the same one. Independent of `JWT_SECRET`: when rotating `JWT_SECRET` with this unset, "
            "set it to the old `JWT_SECRET` in the same change that gives `JWT_SECRET` its new value "
            "(production refuses the two equal). A changed key is still safe: a replay then re-keys the "
            "unused successor"
        ),
        "text",
        accepted="production, when set: see [production secrets](#production-secrets)",
        default_doc="derived from `JWT_SECRET`",
    ),
    Var(
        "ACCESS_TOKEN_TTL_S",
        "device access token lifetime",
        "int",
        default=900,
        low=1,
        high=_DAY_S,
        accepted=" (1 day)",
    ),
    Var(
        "REFRESH_TOKEN_TTL_S",
        "sliding refresh token lifetime",
        "int",
        default=90 * _DAY_S,
        low=1,
        high=366 * _DAY_S,
        accepted=" (366 days)",
        default_doc=" (90 days)",
    ),
    Var(
        "REFRESH_REUSE_GRACE_S",
        (
            "a just-spent refresh token replays the same pair within this; later, while its successor is "
            "unused, it gets the successor with a new access token"
        ),
        "int",
        default=60,
        low=0,
        high=_HOUR_S,
        accepted=" (0 = no replay window)",
    ),
    Var(
        "ENROLLMENT_CODE_TTL_S",
        "default enrollment code lifetime",
        "int",
        default=_DAY_S,
        low=1,
        high=MAX_CODE_TTL_S,
        accepted=" (30 days, as the admin API's `ttl_s`)",
    ),
    Var(
        "NEXT_SYNC_AFTER_S",
        "hint sent to devices in every sync reply",
        "int",
        default=900,
        low=1,
        high=_DAY_S,
    ),
    Var(
        "DASHBOARD_REFRESH_S",
        "the longest a dashboard stream waits between snapshots when no change is announced (the rates move)",
        "float",
        default=5.0,
        high=3600,
    ),
    Var(
        "CORS_ALLOW_ORIGINS",
        (
            "origins whose pages may call the API from a browser (CORS), comma-separated; the dashboard is"
            " same-origin and needs none"
        ),
        "text",
        accepted="exact origins such as `https://ops.example.com`; `*` is refused",
        default_doc="none: CORS closed",
    ),
    Var(
        "RATE_LIMIT_SYNC",
        (
            "most `/v1/sync` requests (and model release files fetched) one device may make in a sliding"
            " window (see [rate limits](#rate-limits)); `off` turns the limit off"
        ),
        "text",
        accepted="`N/second`, `N/minute`, `N/hour`, `N/K minutes` …, or `off`",
        default_doc="`120/minute`",
    ),
    Var(
        "RATE_LIMIT_ENROLL",
        "most enrollments (`/v1/devices/enroll`) one client address may make in a sliding window",
        "text",
        accepted="as `RATE_LIMIT_SYNC`",
        default_doc="`60/10 minutes`",
    ),
    Var(
        "RATE_LIMIT_REFRESH",
        "most token refreshes (`/v1/devices/token`) one client address may make in a sliding window",
        "text",
        accepted="as `RATE_LIMIT_SYNC`",
        default_doc="`600/minute`",
    ),
    Var(
        "RATE_LIMIT_LOGIN",
        "most operator logins (`/v1/admin/login`) one client address may try in a sliding window",
        "text",
        accepted="as `RATE_LIMIT_SYNC`",
        default_doc="`10/minute`",
    ),
    Var(
        "RATE_LIMIT_SERVICE",
        "most admin API requests one service key may make in a sliding window",
        "text",
        accepted="as `RATE_LIMIT_SYNC`",
        default_doc="`1200/minute`",
    ),
    Var(
        "LOGIN_MAX_FAILURES",
        "failed logins in a row that lock an operator account (see [operator accounts](#operator-accounts))",
        "int",
        default=5,
        low=1,
        high=100,
    ),
    Var(
        "LOGIN_LOCKOUT_S",
        "how long a locked operator account refuses every login, the right password too",
        "int",
        default=1800,
        low=1,
        high=_DAY_S,
    ),
    Var(
        "OPERATOR_SESSION_TTL_S",
        "lifetime of an operator's session (its bearer token and its dashboard cookie) from login",
        "int",
        default=3600,
        low=60,
        high=_DAY_S,
    ),
    Var(
        "TRUSTED_PROXIES",
        (
            "addresses or networks of the reverse proxies in front of the API, comma-separated: from these"
            " peers the client address is read from `X-Forwarded-For` (the rightmost address not itself a"
            " trusted proxy); from any other peer the header is ignored"
        ),
        "text",
        accepted="IP addresses or CIDR networks (`10.0.0.0/8`); `*` is refused",
        default_doc="none: the peer's address",
    ),
    Var(
        "QUEUE_NAME",
        "arq queue the API enqueues outbox jobs to and workers listen on (API and workers must agree)",
        "text",
        accepted="any",
        default_doc="`ec:queue`",
    ),
    Var(
        "OUTBOX_RELAY_TIMEOUT_S",
        "a `pending` outbox row untouched this long gets its next attempt from a worker's relay",
        "float",
        default=30.0,
        high=_HOUR_S,
    ),
    Var(
        "OUTBOX_RELAY_INTERVAL_S",
        "how often each worker's relay looks for such rows",
        "float",
        default=5.0,
        high=600,
    ),
    Var(
        "METRICS_INTERVAL_S",
        (
            "how often each worker sets the metric gauges that need a query (devices seen, outbox rows, "
            "queue depth, offers by status)"
        ),
        "float",
        default=15.0,
        high=3600,
    ),
    Var(
        "OUTBOX_MAX_ATTEMPTS",
        (
            "attempts of an outbox row (the API's enqueue included) before it goes dead-letter and its offer "
            "`failed`"
        ),
        "int",
        default=5,
        low=MIN_OUTBOX_ATTEMPTS,
        high=100,
        accepted=" (2: see below)",
    ),
    Var(
        "OUTBOX_FAULT_KINDS",
        (
            "fault injection for tests only: comma-separated job kinds a worker always fails; refused with "
            "`ENV=production`"
        ),
        "text",
        accepted="job kinds; unset in production",
        default_doc="empty",
    ),
    Var(
        "FCM_CREDENTIALS_FILE",
        (
            "Firebase service-account JSON for FCM; unset = the log sender: pushes are only recorded in the "
            "database (`push_attempts`)"
        ),
        "text",
        accepted="a path",
        default_doc="unset",
    ),
    Var(
        "FCM_PROJECT_ID",
        "Firebase project pushes are sent in",
        "text",
        accepted="any",
        default_doc="the credentials file's `project_id`",
    ),
    Var(
        "FCM_ENDPOINT",
        (
            "base URL (`http://127.0.0.1:PORT`) FCM v1 requests go to instead of "
            "`https://fcm.googleapis.com`: the one override, for the tests' fake FCM server only"
        ),
        "text",
        accepted="a URL",
        default_doc="unset",
    ),
    Var(
        "STRESS_SIGNAL",
        (
            "where a credit evaluation's stress estimate comes from: `posterior` (the per-user posterior over"
            " stored aggregates) or `none` (never a signal: the guardrail never acts)"
        ),
        "text",
        accepted="`posterior`, `none`",
        default_doc="`posterior`",
    ),
    Var(
        "STRESS_WINDOW_DAYS",
        "days of aggregates, ending on the evaluation's UTC day, the posterior reads",
        "int",
        default=30,
        low=1,
        high=365,
    ),
    Var(
        "GUARDRAIL_ACT_THRESHOLD",
        (
            "posterior mean of high-stress days above which the guardrail acts (lowers the increase, defers "
            "promotions)"
        ),
        "unit",
        default=0.35,
    ),
    Var(
        "GUARDRAIL_WITHHOLD_THRESHOLD",
        "... above which it withholds the offer (≥ the act threshold)",
        "unit",
        default=0.55,
        accepted=", ≥ `GUARDRAIL_ACT_THRESHOLD`",
    ),
    Var(
        "GUARDRAIL_MIN_DAYS",
        "the guardrail acts only on at least this many days with a report",
        "int",
        default=7,
        low=0,
        high=365,
    ),
    Var(
        "GUARDRAIL_MAX_INTERVAL_WIDTH",
        "... and a 90 % interval no wider than this",
        "unit",
        default=0.7,
    ),
    Var(
        "PROMO_CALM_HOUR",
        (
            "a deferred offer announcement waits for the first `PROMO_CALM_HOUR`:00 of the user's local time "
            "(the UTC offset of their latest aggregate; UTC when none) at least `PROMO_DEFER_MIN_HOURS` after"
            " the evaluation"
        ),
        "int",
        default=10,
        low=0,
        high=23,
    ),
    Var(
        "PROMO_DEFER_MIN_HOURS",
        "see `PROMO_CALM_HOUR`",
        "int",
        default=12,
        low=0,
        high=168,
    ),
    Var(
        "EVALUATE_DAILY_HOUR_UTC",
        "hour (UTC) of the workers' daily `evaluate_active_users` cron",
        "int",
        default=3,
        low=0,
        high=23,
    ),
    Var(
        "EVALUATE_BATCH_SIZE",
        "evaluation requests that cron writes per transaction",
        "int",
        default=200,
        low=1,
        high=10_000,
    ),
    Var(
        "OFFER_ACCEPT_GRACE_S",
        (
            "how long after an offer's expiry an acceptance made offline before expiry may still arrive and "
            "count; also how long `expire_offers` leaves an expired offer `OFFERED` "
            "([offers](offers.md#offline-acceptance))"
        ),
        "float",
        default=72 * 3600.0,
        high=MAX_ACCEPT_WINDOW_S,
        accepted=" (30 days)",
        default_doc=" (72 h)",
    ),
    Var(
        "RETENTION_AGGREGATES_DAYS",
        (
            "days a daily aggregate is kept after its day, by the workers' daily `retention` job; at least "
            "the longest analytics window (90 days)"
        ),
        "int",
        default=180,
        low=90,
        high=3650,
    ),
    Var(
        "RETENTION_PUSH_ATTEMPTS_DAYS",
        "days a push attempt is kept (the `retention` job)",
        "int",
        default=90,
        low=1,
        high=3650,
    ),
    Var(
        "RETENTION_OUTBOX_DAYS",
        (
            "days a finished (`done` or `cancelled`) outbox row is kept, and longer while a push attempt, an "
            "evaluation or a follow-up row names it (the `retention` job)"
        ),
        "int",
        default=30,
        low=1,
        high=3650,
    ),
    Var(
        "RETENTION_CHANGE_LOG_DAYS",
        (
            "days a change is kept once a later change of the same offer, notice, profile or consent "
            "replaces it; the `retention` job then compacts it away (spec §5.5)"
        ),
        "int",
        default=30,
        low=1,
        high=3650,
    ),
    Var(
        "OFFER_EXPIRY_INTERVAL_S",
        (
            "how often the workers' `expire_offers` cron runs (each tick once across all workers); must "
            "divide a minute (1 to 60 s), an hour (whole minutes) or a day (whole hours), because the "
            "schedule "
            "is wall-clock ticks"
        ),
        "int",
        default=60,
        low=1,
        high=_DAY_S,
        accepted=", dividing a minute, an hour or a day",
    ),
    Var(
        "OFFER_MAX_CLOCK_SKEW_S",
        (
            "a late acceptance is dated by the device clock only when that clock is at most this far off the "
            "server's; must not exceed `OFFER_ACCEPT_GRACE_S`"
        ),
        "float",
        default=3600.0,
        high=MAX_ACCEPT_WINDOW_S,
        accepted=", ≤ `OFFER_ACCEPT_GRACE_S`",
        default_doc=" (1 h)",
    ),
    Var(
        "WORKER_MAX_JOBS",
        (
            "Jobs one worker runs at once (arq `max_jobs`). Jobs mostly wait on the store's write lock or on "
            "FCM; at the limit arq takes no new job until its next poll"
        ),
        "int",
        default=32,
        low=1,
        high=1000,
    ),
    Var(
        "WORKER_POLL_DELAY_S",
        (
            "How often an idle worker asks Redis for queued jobs (arq `poll_delay`): a job waits about half "
            "of it before it starts; each idle worker spends 3 to 5 % of a CPU polling at the default "
            "(see the "
            "offer pipeline's open loop in [benchmarks](benchmarks.md))"
        ),
        "float",
        default=0.01,
        high=60,
    ),
    Var(
        "WORKER_SHUTDOWN_WAIT_S",
        (
            "On SIGTERM or SIGINT a worker takes no new job and gives running ones this many seconds before "
            "cancelling them (arq `job_completion_wait`); a cancelled job's outbox row is taken by the relay"
        ),
        "int",
        default=10,
        low=0,
        high=600,
    ),
    Var(
        "WORKER_HEALTH_CHECK_INTERVAL_S",
        (
            "How often a worker writes its health line (jobs complete, failed, retried, ongoing, queued) to "
            "`{QUEUE_NAME}:health-check` in Redis; `GET /v1/admin/outbox` shows it as `worker_health`"
        ),
        "float",
        default=10.0,
        high=_HOUR_S,
    ),
    Var(
        "WORKER_JOB_TIMEOUT_S",
        (
            "arq `job_timeout`: a job running longer is cancelled. A job whose worker died mid-run is run "
            "again by arq once its in-progress key expires, `WORKER_JOB_TIMEOUT_S + 10` s after it started "
            "(arq 0.28); the outbox relay usually takes the next attempt sooner"
        ),
        "float",
        default=60.0,
        high=_HOUR_S,
    ),
    Var(
        "PUSH_RETRY_BASE_S",
        "back-off after a retryable FCM answer (429, 503): this, doubled per attempt, capped at 15 min",
        "float",
        default=30.0,
        high=MAX_PUSH_RETRY_BASE_S,
        accepted=" (the back-off cap)",
    ),
    Var(
        "FAULT_PAUSE_AT",
        (
            "**tests only** (see [fault hooks](#fault-hooks-tests-only)): comma-separated pause points of a "
            "worker"
        ),
        "text",
        accepted="pause points; unset in production",
        default_doc="empty",
    ),
    Var(
        "FAULT_EXIT_AFTER_COMMIT",
        (
            "**tests only**: `1` makes the API exit between a sync commit that wrote outbox rows and their "
            "enqueue"
        ),
        "bool",
        default=False,
        accepted="; unset in production",
    ),
)

BY_NAME: Final = {v.name: v for v in VARS}


def render_table() -> str:
    """The settings table of ``docs/operations.md``, in declaration order."""
    lines = ["| variable | meaning | accepted | default |", "|---|---|---|---|"]
    lines += [f"| `{v.name}` | {v.meaning} | {v.accepted_cell()} | {v.default_cell()} |" for v in VARS]
    return "\n".join(lines) + "\n"
