"""Every setting is declared once (cloud/settings_vars.py): the loader reads exactly the declared
variables, numbers get their default and bounds from the declaration, and the settings table of
docs/operations.md is the one rendered from it."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import pytest

import cloud.settings as settings_module
from cloud.settings import load_settings
from cloud.settings_vars import BY_NAME, VARS, Var, render_table

DOC = Path(__file__).resolve().parents[3] / "docs" / "operations.md"
START = "<!-- settings-table:start (rendered from cloud/settings_vars.py) -->\n"
END = "<!-- settings-table:end -->"
READ = re.compile(
    r'(?:env\.get\(|env\[|_int_var\(env, |_float_var\(env, |_flag\(env, |_bool\(env, )"([A-Z_]+)"'
)


def test_the_docs_table_is_the_rendered_one() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert text[text.index(START) + len(START) : text.index(END)] == render_table()


def test_the_loader_reads_exactly_the_declared_variables() -> None:
    read = set(READ.findall(inspect.getsource(settings_module)))
    assert read == set(BY_NAME)
    assert len(BY_NAME) == len(VARS)  # no name declared twice


@pytest.mark.parametrize("var", [v for v in VARS if v.default is not None], ids=lambda v: v.name)
def test_unset_is_the_declared_default(var: Var, tmp_path: Path) -> None:
    settings = load_settings({"DATA_DIR": str(tmp_path)})
    found = [value for value in _leaves(settings) if value[0] == var.name]
    assert found, f"{var.name}: no settings field carries it"
    assert found[0][1] == var.default


def _leaves(s: Any) -> list[tuple[str, object]]:
    """(variable, value) for the numeric and on/off settings, by the field each one fills."""
    return [
        ("DATABASE_POOL_SIZE", s.database.pool_max),
        ("SQLITE_WAL_LIMIT_MB", s.database.wal_limit_mb),
        ("DEMO", s.demo.enabled),
        ("DEMO_USERS", s.demo.users),
        ("DEMO_DEVICES", s.demo.devices),
        ("DEMO_DAYS", s.demo.days),
        ("API_PROCESSES", s.api.processes),
        ("WORKER_PROCESSES", s.jobs.processes),
        ("PORT", s.api.port),
        ("ACCESS_LOG", s.api.access_log),
        ("BODY_READ_TIMEOUT_S", s.api.body_read_timeout_s),
        ("ACCESS_TOKEN_TTL_S", s.auth.access_ttl_s),
        ("REFRESH_TOKEN_TTL_S", s.auth.refresh_ttl_s),
        ("REFRESH_REUSE_GRACE_S", s.auth.refresh_reuse_grace_s),
        ("ENROLLMENT_CODE_TTL_S", s.auth.enrollment_code_ttl_s),
        ("LOGIN_MAX_FAILURES", s.operators.max_failures),
        ("LOGIN_LOCKOUT_S", s.operators.lockout_s),
        ("OPERATOR_SESSION_TTL_S", s.operators.session_ttl_s),
        ("NEXT_SYNC_AFTER_S", s.api.next_sync_after_s),
        ("DASHBOARD_REFRESH_S", s.api.dashboard_refresh_s),
        ("OUTBOX_RELAY_TIMEOUT_S", s.outbox.relay_timeout_s),
        ("OUTBOX_RELAY_INTERVAL_S", s.outbox.relay_interval_s),
        ("METRICS_INTERVAL_S", s.outbox.metrics_interval_s),
        ("OUTBOX_MAX_ATTEMPTS", s.outbox.max_attempts),
        ("STRESS_WINDOW_DAYS", s.credit.stress_window_days),
        ("GUARDRAIL_ACT_THRESHOLD", s.credit.act_threshold),
        ("GUARDRAIL_WITHHOLD_THRESHOLD", s.credit.withhold_threshold),
        ("GUARDRAIL_MIN_DAYS", s.credit.min_days),
        ("GUARDRAIL_MAX_INTERVAL_WIDTH", s.credit.max_interval_width),
        ("PROMO_CALM_HOUR", s.credit.promo_calm_hour),
        ("PROMO_DEFER_MIN_HOURS", s.credit.promo_defer_min_hours),
        ("EVALUATE_DAILY_HOUR_UTC", s.credit.daily_hour_utc),
        ("EVALUATE_BATCH_SIZE", s.credit.daily_batch_size),
        ("OFFER_ACCEPT_GRACE_S", s.acceptance.grace_s),
        ("OFFER_EXPIRY_INTERVAL_S", s.expiry.interval_s),
        ("RETENTION_AGGREGATES_DAYS", s.retention.aggregates_days),
        ("RETENTION_PUSH_ATTEMPTS_DAYS", s.retention.push_attempts_days),
        ("RETENTION_OUTBOX_DAYS", s.retention.outbox_days),
        ("RETENTION_CHANGE_LOG_DAYS", s.retention.change_log_days),
        ("OFFER_MAX_CLOCK_SKEW_S", s.acceptance.max_clock_skew_s),
        ("WORKER_MAX_JOBS", s.jobs.max_jobs),
        ("WORKER_POLL_DELAY_S", s.jobs.poll_delay_s),
        ("WORKER_SHUTDOWN_WAIT_S", s.jobs.shutdown_wait_s),
        ("WORKER_HEALTH_CHECK_INTERVAL_S", s.jobs.health_check_interval_s),
        ("WORKER_JOB_TIMEOUT_S", s.jobs.timeout_s),
        ("PUSH_RETRY_BASE_S", s.push.retry_base_s),
        ("FAULT_EXIT_AFTER_COMMIT", s.faults.exit_after_commit),
    ]
