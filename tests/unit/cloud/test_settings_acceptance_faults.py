"""Settings of the offline-acceptance rule, the worker's job timeout, the test-only fault hooks, and
the bounds every numeric setting is checked against at load time."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cloud.domain.offers.rules import DEFAULT_GRACE_MS, DEFAULT_MAX_TRUSTED_SKEW_MS, AcceptanceRule
from cloud.faults import APPLY_AFTER_COMMIT, APPLY_BEFORE_TX, APPLY_IN_TX, PAUSE_POINTS, FaultPauses
from cloud.push.messages import RETRY_BASE_MS, retry_delay_ms
from cloud.settings import FaultHooksInProduction, InsecureSettings, load_settings
from cloud.settings_vars import VARS
from cloud.workers.settings import WorkerSettings
from tests.support.secrets import PRODUCTION_ENV

PRODUCTION = PRODUCTION_ENV


def test_defaults_are_the_rules_defaults(tmp_path: Path) -> None:
    settings = load_settings({"DATA_DIR": str(tmp_path)})
    assert settings.acceptance.rule() == AcceptanceRule()
    assert (settings.acceptance.rule().grace_ms, settings.acceptance.rule().max_trusted_skew_ms) == (
        DEFAULT_GRACE_MS,
        DEFAULT_MAX_TRUSTED_SKEW_MS,
    )
    assert settings.jobs.timeout_s == 60.0
    assert settings.api.body_read_timeout_s == 10.0
    assert settings.push.retry_base_s * 1000 == RETRY_BASE_MS
    assert (settings.faults.pause_at, settings.faults.exit_after_commit, settings.faults.any) == (
        frozenset(),
        False,
        False,
    )


def test_values_are_read_in_seconds_and_reach_the_worker(tmp_path: Path) -> None:
    env = {
        "DATA_DIR": str(tmp_path),
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "OFFER_ACCEPT_GRACE_S": "2.5",
        "OFFER_MAX_CLOCK_SKEW_S": "0.5",
        "WORKER_JOB_TIMEOUT_S": "1",
        "PUSH_RETRY_BASE_S": "0.2",
        "FAULT_PAUSE_AT": f" {APPLY_IN_TX}, {APPLY_AFTER_COMMIT} ",
        "FAULT_EXIT_AFTER_COMMIT": "true",
    }
    settings = load_settings(env)
    assert settings.acceptance.rule() == AcceptanceRule(grace_ms=2_500, max_trusted_skew_ms=500)
    assert settings.faults.pause_at == {APPLY_IN_TX, APPLY_AFTER_COMMIT}
    assert settings.faults.exit_after_commit is True
    worker = WorkerSettings.from_settings(settings)
    assert worker.job_timeout_s == 1.0
    assert worker.acceptance.rule().grace_ms == 2_500
    assert worker.faults.pause_at == {APPLY_IN_TX, APPLY_AFTER_COMMIT}
    assert retry_delay_ms(0, base_ms=round(worker.push.retry_base_s * 1000)) == 200
    assert retry_delay_ms(2, base_ms=200) == 800


def test_skew_equal_to_grace_is_allowed(tmp_path: Path) -> None:
    settings = load_settings(
        {"DATA_DIR": str(tmp_path), "OFFER_ACCEPT_GRACE_S": "60", "OFFER_MAX_CLOCK_SKEW_S": "60"}
    )
    assert settings.acceptance.rule() == AcceptanceRule(grace_ms=60_000, max_trusted_skew_ms=60_000)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"OFFER_ACCEPT_GRACE_S": "0"}, "OFFER_ACCEPT_GRACE_S"),
        ({"OFFER_ACCEPT_GRACE_S": "-3600"}, "OFFER_ACCEPT_GRACE_S"),
        ({"OFFER_ACCEPT_GRACE_S": "3 days"}, "OFFER_ACCEPT_GRACE_S"),
        ({"OFFER_ACCEPT_GRACE_S": "nan"}, "OFFER_ACCEPT_GRACE_S"),
        ({"OFFER_ACCEPT_GRACE_S": "1e300", "OFFER_MAX_CLOCK_SKEW_S": "1"}, "OFFER_ACCEPT_GRACE_S"),
        ({"OFFER_MAX_CLOCK_SKEW_S": "0"}, "OFFER_MAX_CLOCK_SKEW_S"),
        ({"OFFER_ACCEPT_GRACE_S": "60", "OFFER_MAX_CLOCK_SKEW_S": "61"}, "OFFER_MAX_CLOCK_SKEW_S"),
        ({"OFFER_MAX_CLOCK_SKEW_S": "300000"}, "OFFER_MAX_CLOCK_SKEW_S"),
        ({"WORKER_JOB_TIMEOUT_S": "0"}, "WORKER_JOB_TIMEOUT_S"),
        ({"WORKER_JOB_TIMEOUT_S": "soon"}, "WORKER_JOB_TIMEOUT_S"),
        ({"PUSH_RETRY_BASE_S": "-1"}, "PUSH_RETRY_BASE_S"),
        ({"FAULT_PAUSE_AT": "apply_offer.everywhere"}, "FAULT_PAUSE_AT"),
        ({"FAULT_PAUSE_AT": f"{APPLY_IN_TX},send_push.in_tx"}, "FAULT_PAUSE_AT"),
        ({"FAULT_EXIT_AFTER_COMMIT": "maybe"}, "FAULT_EXIT_AFTER_COMMIT"),
        ({"OUTBOX_RELAY_TIMEOUT_S": "inf"}, "OUTBOX_RELAY_TIMEOUT_S"),
        ({"PUSH_RETRY_BASE_S": "inf"}, "PUSH_RETRY_BASE_S"),
        ({"ACCESS_TOKEN_TTL_S": "-5"}, "ACCESS_TOKEN_TTL_S"),
        ({"PORT": "-1"}, "PORT"),
        ({"NEXT_SYNC_AFTER_S": "0"}, "NEXT_SYNC_AFTER_S"),
        ({"OUTBOX_MAX_ATTEMPTS": "1"}, "OUTBOX_MAX_ATTEMPTS"),
    ],
)
def test_bad_values_are_refused_naming_the_variable(tmp_path: Path, env: dict[str, str], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        load_settings({"DATA_DIR": str(tmp_path), **env})


@pytest.mark.parametrize(
    "env",
    [
        {"FAULT_PAUSE_AT": APPLY_BEFORE_TX},
        {"FAULT_EXIT_AFTER_COMMIT": "1"},
        {"OUTBOX_FAULT_KINDS": "apply_offer"},
    ],
    ids=["pause", "exit-after-commit", "outbox-fault-kinds"],
)
def test_production_refuses_fault_hooks(tmp_path: Path, env: dict[str, str]) -> None:
    with pytest.raises(FaultHooksInProduction, match="tests only"):
        load_settings({"DATA_DIR": str(tmp_path), **PRODUCTION, **env})
    # The same hooks are accepted outside production, and production without them starts.
    assert load_settings({"DATA_DIR": str(tmp_path), **env}).env == "development"
    assert load_settings({"DATA_DIR": str(tmp_path), **PRODUCTION}).is_production
    assert issubclass(FaultHooksInProduction, InsecureSettings)  # the runner's exit-2 path


def _worker_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("FAULT_", "OFFER_", "OUTBOX_"))}
    # Settings are refused before Redis is contacted: nothing listens on this port.
    return {
        **base,
        "DATA_DIR": str(tmp_path),
        "REDIS_URL": "redis://127.0.0.1:9/0",
        "ENV": "development",
        **extra,
    }


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"OFFER_ACCEPT_GRACE_S": "60", "OFFER_MAX_CLOCK_SKEW_S": "120"},
            "must not exceed OFFER_ACCEPT_GRACE_S",
        ),
        ({**PRODUCTION, "FAULT_PAUSE_AT": APPLY_IN_TX}, "tests only"),
        ({**PRODUCTION, "ENV": "Production", "FAULT_PAUSE_AT": APPLY_IN_TX}, "ENV must be one of"),
        ({"OUTBOX_RELAY_TIMEOUT_S": "inf"}, "OUTBOX_RELAY_TIMEOUT_S must be a finite number"),
    ],
    ids=["skew-above-grace", "fault-hook-in-production", "mistyped-env", "infinite-relay-timeout"],
)
def test_worker_refuses_bad_settings_at_start_up(tmp_path: Path, extra: dict[str, str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cloud.workers"],
        env=_worker_env(tmp_path, **extra),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and done.stderr.startswith("error: ")
    assert "Traceback" not in done.stderr


def test_pauses_only_at_the_points_set(caplog: pytest.LogCaptureFixture) -> None:
    pauses = FaultPauses(frozenset({APPLY_IN_TX}), pause_s=0.01)
    with caplog.at_level(logging.WARNING, logger="cloud.faults"):
        pauses.blocking(APPLY_BEFORE_TX)
        asyncio.run(pauses.pause(APPLY_AFTER_COMMIT))
        assert caplog.messages == []
        pauses.blocking(APPLY_IN_TX)
        asyncio.run(FaultPauses(frozenset({APPLY_AFTER_COMMIT}), pause_s=0.01).pause(APPLY_AFTER_COMMIT))
    assert caplog.messages == [f"fault pause at {APPLY_IN_TX}", f"fault pause at {APPLY_AFTER_COMMIT}"]
    with pytest.raises(ValueError, match="unknown fault pause point"):
        FaultPauses(frozenset({"apply_offer.nowhere"}))
    assert {APPLY_BEFORE_TX, APPLY_IN_TX, APPLY_AFTER_COMMIT} == PAUSE_POINTS


# Every numeric setting with the bounds docs/operations.md states: (low, high, default). Floats
# are accepted in (0, high] (GUARDRAIL_* in (0, 1)), integers in low..high.
FLOAT_HIGH: dict[str, float] = {
    "OUTBOX_RELAY_TIMEOUT_S": 3600,
    "OUTBOX_RELAY_INTERVAL_S": 600,
    "METRICS_INTERVAL_S": 3600,
    "DASHBOARD_REFRESH_S": 3600,
    "OFFER_ACCEPT_GRACE_S": 30 * 86_400,
    "OFFER_MAX_CLOCK_SKEW_S": 30 * 86_400,
    "WORKER_JOB_TIMEOUT_S": 3600,
    "WORKER_POLL_DELAY_S": 60,
    "WORKER_HEALTH_CHECK_INTERVAL_S": 3600,
    "PUSH_RETRY_BASE_S": 900,
    "BODY_READ_TIMEOUT_S": 300,
}
UNIT_FLOATS: tuple[str, ...] = (
    "GUARDRAIL_ACT_THRESHOLD",
    "GUARDRAIL_WITHHOLD_THRESHOLD",
    "GUARDRAIL_MAX_INTERVAL_WIDTH",
)
INT_RANGE: dict[str, tuple[int, int]] = {
    "PORT": (1, 65_535),
    "ACCESS_TOKEN_TTL_S": (1, 86_400),
    "REFRESH_TOKEN_TTL_S": (1, 366 * 86_400),
    "REFRESH_REUSE_GRACE_S": (0, 3600),
    "ENROLLMENT_CODE_TTL_S": (1, 30 * 86_400),
    "LOGIN_MAX_FAILURES": (1, 100),
    "LOGIN_LOCKOUT_S": (1, 86_400),
    "OPERATOR_SESSION_TTL_S": (60, 86_400),
    "NEXT_SYNC_AFTER_S": (1, 86_400),
    "OUTBOX_MAX_ATTEMPTS": (2, 100),
    "OFFER_EXPIRY_INTERVAL_S": (1, 86_400),
    "STRESS_WINDOW_DAYS": (1, 365),
    "GUARDRAIL_MIN_DAYS": (0, 365),
    "PROMO_CALM_HOUR": (0, 23),
    "PROMO_DEFER_MIN_HOURS": (0, 168),
    "EVALUATE_DAILY_HOUR_UTC": (0, 23),
    "EVALUATE_BATCH_SIZE": (1, 10_000),
    "RETENTION_AGGREGATES_DAYS": (90, 3650),
    "RETENTION_PUSH_ATTEMPTS_DAYS": (1, 3650),
    "RETENTION_OUTBOX_DAYS": (1, 3650),
    "RETENTION_CHANGE_LOG_DAYS": (1, 3650),
    "WORKER_MAX_JOBS": (1, 1000),
    "DATABASE_POOL_SIZE": (1, 100),
    "SQLITE_WAL_LIMIT_MB": (1, 4096),
    "API_PROCESSES": (1, 64),
    "WORKER_PROCESSES": (1, 64),
    "WORKER_SHUTDOWN_WAIT_S": (0, 600),
    "DEMO_USERS": (0, 2000),
    "DEMO_DEVICES": (1, 200),
    "DEMO_DAYS": (1, 90),
}
# Settings another one is checked against: set so that a bound of the first is valid on its own.
COMPANIONS: dict[str, dict[str, str]] = {
    "OFFER_MAX_CLOCK_SKEW_S": {"OFFER_ACCEPT_GRACE_S": str(30 * 86_400)},
    "OFFER_ACCEPT_GRACE_S": {"OFFER_MAX_CLOCK_SKEW_S": "0.001"},
    "GUARDRAIL_ACT_THRESHOLD": {"GUARDRAIL_WITHHOLD_THRESHOLD": "0.999"},
    "GUARDRAIL_WITHHOLD_THRESHOLD": {"GUARDRAIL_ACT_THRESHOLD": "0.001"},
}


def test_every_numeric_setting_has_its_bounds_tested() -> None:
    # The tables above are written here on purpose, apart from the declarations they check.
    assert {v.name for v in VARS if v.kind == "int"} == set(INT_RANGE)
    assert {v.name for v in VARS if v.kind == "float"} == set(FLOAT_HIGH)
    assert {v.name for v in VARS if v.kind == "unit"} == set(UNIT_FLOATS)
    assert all((v.low, v.high) == INT_RANGE[v.name] for v in VARS if v.kind == "int")
    assert all(v.high == FLOAT_HIGH[v.name] for v in VARS if v.kind == "float")


def _bad_floats() -> list[tuple[str, str]]:
    cases = []
    for name, high in FLOAT_HIGH.items():
        cases += [
            (name, bad) for bad in ("inf", "-inf", "nan", "Infinity", "0", "-1", f"{high * 1.001:g}", "x")
        ]
    for name in UNIT_FLOATS:
        cases += [(name, bad) for bad in ("inf", "nan", "0", "1", "1.5", "-0.1")]
    return cases


def _bad_ints() -> list[tuple[str, str]]:
    cases = []
    for name, (low, high) in INT_RANGE.items():
        cases += [(name, str(low - 1)), (name, str(high + 1)), (name, "1.5"), (name, "inf"), (name, "ten")]
    return cases


@pytest.mark.parametrize(("name", "bad"), _bad_floats() + _bad_ints())
def test_out_of_range_numbers_are_refused_naming_the_variable(tmp_path: Path, name: str, bad: str) -> None:
    env = {"DATA_DIR": str(tmp_path), **COMPANIONS.get(name, {}), name: bad}
    with pytest.raises(ValueError, match=rf"^{name}\b") as caught:
        load_settings(env)
    assert repr(bad) in str(caught.value) or bad.strip() in str(caught.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [(name, str(bound)) for name, bounds in INT_RANGE.items() for bound in bounds]
    + [(name, f"{high:g}") for name, high in FLOAT_HIGH.items()]
    + [(name, "0.001") for name in FLOAT_HIGH]
    + [(name, v) for name in UNIT_FLOATS for v in ("0.001", "0.999")],
)
def test_bounds_themselves_are_accepted(tmp_path: Path, name: str, value: str) -> None:
    settings = load_settings({"DATA_DIR": str(tmp_path), **COMPANIONS.get(name, {}), name: value})
    fields = {
        "PORT": settings.api.port,
        "NEXT_SYNC_AFTER_S": settings.api.next_sync_after_s,
        "ACCESS_TOKEN_TTL_S": settings.auth.access_ttl_s,
        "REFRESH_TOKEN_TTL_S": settings.auth.refresh_ttl_s,
        "REFRESH_REUSE_GRACE_S": settings.auth.refresh_reuse_grace_s,
        "ENROLLMENT_CODE_TTL_S": settings.auth.enrollment_code_ttl_s,
        "LOGIN_MAX_FAILURES": settings.operators.max_failures,
        "LOGIN_LOCKOUT_S": settings.operators.lockout_s,
        "OPERATOR_SESSION_TTL_S": settings.operators.session_ttl_s,
        "OUTBOX_MAX_ATTEMPTS": settings.outbox.max_attempts,
        "OUTBOX_RELAY_TIMEOUT_S": settings.outbox.relay_timeout_s,
        "OUTBOX_RELAY_INTERVAL_S": settings.outbox.relay_interval_s,
        "METRICS_INTERVAL_S": settings.outbox.metrics_interval_s,
        "DASHBOARD_REFRESH_S": settings.api.dashboard_refresh_s,
        "OFFER_EXPIRY_INTERVAL_S": settings.expiry.interval_s,
        "OFFER_ACCEPT_GRACE_S": settings.acceptance.grace_s,
        "OFFER_MAX_CLOCK_SKEW_S": settings.acceptance.max_clock_skew_s,
        "STRESS_WINDOW_DAYS": settings.credit.stress_window_days,
        "GUARDRAIL_ACT_THRESHOLD": settings.credit.act_threshold,
        "GUARDRAIL_WITHHOLD_THRESHOLD": settings.credit.withhold_threshold,
        "GUARDRAIL_MIN_DAYS": settings.credit.min_days,
        "GUARDRAIL_MAX_INTERVAL_WIDTH": settings.credit.max_interval_width,
        "PROMO_CALM_HOUR": settings.credit.promo_calm_hour,
        "PROMO_DEFER_MIN_HOURS": settings.credit.promo_defer_min_hours,
        "EVALUATE_DAILY_HOUR_UTC": settings.credit.daily_hour_utc,
        "EVALUATE_BATCH_SIZE": settings.credit.daily_batch_size,
        "RETENTION_AGGREGATES_DAYS": settings.retention.aggregates_days,
        "RETENTION_PUSH_ATTEMPTS_DAYS": settings.retention.push_attempts_days,
        "RETENTION_OUTBOX_DAYS": settings.retention.outbox_days,
        "RETENTION_CHANGE_LOG_DAYS": settings.retention.change_log_days,
        "WORKER_JOB_TIMEOUT_S": settings.jobs.timeout_s,
        "WORKER_MAX_JOBS": settings.jobs.max_jobs,
        "DATABASE_POOL_SIZE": settings.database.pool_max,
        "SQLITE_WAL_LIMIT_MB": settings.database.wal_limit_mb,
        "API_PROCESSES": settings.api.processes,
        "WORKER_PROCESSES": settings.jobs.processes,
        "WORKER_POLL_DELAY_S": settings.jobs.poll_delay_s,
        "WORKER_SHUTDOWN_WAIT_S": settings.jobs.shutdown_wait_s,
        "WORKER_HEALTH_CHECK_INTERVAL_S": settings.jobs.health_check_interval_s,
        "PUSH_RETRY_BASE_S": settings.push.retry_base_s,
        "BODY_READ_TIMEOUT_S": settings.api.body_read_timeout_s,
        "DEMO_USERS": settings.demo.users,
        "DEMO_DEVICES": settings.demo.devices,
        "DEMO_DAYS": settings.demo.days,
    }
    assert fields[name] == float(value)


def test_the_longest_accepted_durations_scale_to_milliseconds(tmp_path: Path) -> None:
    # The relay and the push back-off turn these into integer milliseconds: no overflow at the top.
    settings = load_settings(
        {
            "DATA_DIR": str(tmp_path),
            "OUTBOX_RELAY_TIMEOUT_S": "3600",
            "PUSH_RETRY_BASE_S": "900",
            "OFFER_ACCEPT_GRACE_S": str(30 * 86_400),
            "OFFER_MAX_CLOCK_SKEW_S": str(30 * 86_400),
        }
    )
    assert round(settings.outbox.relay_timeout_s * 1000) == 3_600_000
    assert retry_delay_ms(16, base_ms=round(settings.push.retry_base_s * 1000)) == 15 * 60_000
    assert settings.acceptance.rule() == AcceptanceRule(
        grace_ms=2_592_000_000, max_trusted_skew_ms=2_592_000_000
    )
