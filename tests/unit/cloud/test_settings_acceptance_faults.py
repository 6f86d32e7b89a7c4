"""Settings of the offline-acceptance rule, the worker's job timeout and the test-only fault hooks."""

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
from cloud.workers.settings import WorkerSettings

PRODUCTION = {"ENV": "production", "ADMIN_TOKEN": "a" * 40, "JWT_SECRET": "j" * 48}


def test_defaults_are_the_rules_defaults(tmp_path: Path) -> None:
    settings = load_settings({"DATA_DIR": str(tmp_path)})
    assert settings.acceptance.rule() == AcceptanceRule()
    assert (settings.acceptance.rule().grace_ms, settings.acceptance.rule().max_trusted_skew_ms) == (
        DEFAULT_GRACE_MS,
        DEFAULT_MAX_TRUSTED_SKEW_MS,
    )
    assert settings.jobs.timeout_s == 60.0
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
    ],
    ids=["skew-above-grace", "fault-hook-in-production"],
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
