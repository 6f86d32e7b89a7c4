"""The daily ``evaluate_active_users`` cron: its job over a real SQLite store, and its schedule."""

from __future__ import annotations

import asyncio
import inspect

import pytest

from cloud.domain.analytics.signal import NoStressSignal
from cloud.domain.credit.services import EvaluationService
from cloud.queue import build_worker, new_event_loop
from cloud.settings import CreditSettings, load_settings
from cloud.store import Store
from cloud.store.records import CreditFeaturesRecord, ProfileRecord, RefreshGrant
from cloud.workers.jobs import evaluate_active_users, evaluate_credit
from cloud.workers.main import DAY_S, FUNCTIONS, cron_jobs
from cloud.workers.settings import WorkerSettings

pytestmark = pytest.mark.anyio

NOW = 1_700_000_000_000
DAY_MS = 86_400_000


async def active_user(store: Store, n: int, *, device: bool = True) -> str:
    user_id = f"usr_{n}"
    await store.create_user(user_id, None, NOW)
    if device:
        await store.create_enrollment_code(user_id, f"code{n}", NOW + DAY_MS, NOW)
        await store.enroll_device(
            code_hash=f"code{n}",
            device_id=f"dev_{n}",
            platform="android",
            app_version="1",
            refresh=RefreshGrant(token_hash=f"rt{n}", expires_at=NOW + DAY_MS),
            now=NOW,
        )
    await store.set_profile(
        ProfileRecord(
            user_id=user_id, currency="EUR", limit_cents=100_000, used_cents=0, rate_bps=1_990, updated_at=NOW
        ),
        actor="admin",
        reason_code="profile_set",
    )
    await store.set_credit_features(
        CreditFeaturesRecord(
            user_id=user_id,
            months_on_book=40,
            on_time_payments_12m=12,
            missed_payments_12m=0,
            income_band="medium",
            updated_at=NOW,
        )
    )
    return user_id


async def test_daily_job_requests_each_active_user_once_per_day(store: Store) -> None:
    clock = [NOW]
    service = EvaluationService(
        store, CreditSettings(daily_batch_size=2), signal=NoStressSignal(), clock=lambda: clock[0]
    )
    users = [await active_user(store, n) for n in range(5)]
    await active_user(store, 99, device=False)
    worker_settings = WorkerSettings.from_settings(load_settings({"REDIS_URL": "redis://127.0.0.1:1"}))
    # No queue: the rows would wait for the relay; the test runs the jobs itself.
    ctx = {"evaluator": service, "worker_settings": worker_settings}
    assert await evaluate_active_users(ctx) == 5  # three batches of at most two
    evaluations = await store.list_evaluations()
    assert sorted(e.user_id for e in evaluations) == users
    assert {(e.trigger, e.status) for e in evaluations} == {("daily", "pending")}
    clock[0] += 3_600_000  # the next tick the same day
    assert await evaluate_active_users(ctx) == 0
    # The jobs run: each active user gets an offer, and the next day nobody is evaluated again
    # (an offer is in flight for all of them).
    for evaluation in evaluations:
        job = {"outbox_id": evaluation.outbox_id, "attempt": 0}
        assert await evaluate_credit(ctx, job) == "recorded"
    assert [len(await store.list_offers(u)) for u in users] == [1] * len(users)
    clock[0] += DAY_MS
    assert await evaluate_active_users(ctx) == 0


def test_cron_is_registered_at_the_configured_hour() -> None:
    loaded = load_settings({"REDIS_URL": "redis://127.0.0.1:1", "EVALUATE_DAILY_HOUR_UTC": "4"})
    settings = WorkerSettings.from_settings(loaded)
    jobs = {job.function.__name__: job for job in cron_jobs(settings, loaded.credit)}
    daily = jobs["evaluate_active_users"]
    assert (daily.interval_s, daily.hour) == (DAY_S, 4)
    assert evaluate_credit in [inspect.unwrap(f) for f in FUNCTIONS]
    loop = new_event_loop()  # arq's worker takes the current loop when constructed
    try:
        worker = build_worker(
            settings.redis_url, FUNCTIONS, cron_jobs=list(jobs.values()), queue_name="q-test"
        )
        [arq_cron] = [c for c in worker.cron_jobs if c.name.endswith("evaluate_active_users")]
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    assert (arq_cron.hour, arq_cron.minute, arq_cron.second) == ({4}, {0}, {0})


def test_daily_hour_must_be_an_hour() -> None:
    with pytest.raises(ValueError, match="EVALUATE_DAILY_HOUR_UTC"):
        load_settings({"EVALUATE_DAILY_HOUR_UTC": "24"})
    with pytest.raises(ValueError, match="STRESS_SIGNAL"):
        load_settings({"STRESS_SIGNAL": "mood"})
    with pytest.raises(ValueError, match="GUARDRAIL_WITHHOLD_THRESHOLD"):
        load_settings({"GUARDRAIL_ACT_THRESHOLD": "0.6", "GUARDRAIL_WITHHOLD_THRESHOLD": "0.5"})
