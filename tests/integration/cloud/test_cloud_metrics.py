"""``/metrics``: behind the admin token, labelled by route template (never an id), counting syncs'
mutations; and in multiprocess mode, the sum of two API processes and a worker's gauges."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cloud.constants import METRICS_MULTIPROC_ENV
from tests.support.live_server import LiveServer, sample_aggregate, sync_ok
from tests.support.worker import worker_process

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(server: LiveServer) -> tuple[str, Samples]:
    reply = server.admin.get("/metrics")
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(reply.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return reply.text, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_metrics_need_the_admin_token(live_server: LiveServer) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        reply = httpx.get(live_server.base_url + "/metrics", headers=headers, timeout=10.0)
        assert reply.status_code == 401
        assert reply.json()["code"] == "admin_unauthorized"


def test_requests_are_counted_by_route_template_without_ids(live_server: LiveServer) -> None:
    user_id = live_server.create_user()
    tokens = live_server.enroll(live_server.enrollment_code(user_id))
    _, before = scrape(live_server)
    for _ in range(3):
        assert live_server.admin.get(f"/v1/admin/users/{user_id}/view").status_code == 200
    assert live_server.admin.get("/no/such/path").status_code == 404
    sync_ok(live_server, tokens, [sample_aggregate(1), sample_aggregate(2)])
    text, after = scrape(live_server)

    view = {"method": "GET", "route": "/v1/admin/users/{user_id}/view", "status": "200"}
    assert (
        value(after, "ec_http_requests_total", **view) - value(before, "ec_http_requests_total", **view) == 3
    )
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert value(after, "ec_http_requests_total", **unmatched) >= 1
    # Without the share_aggregates consent both aggregates are refused, each counted with its code.
    refused = {"status": "rejected", "code": "consent_missing"}
    assert (
        value(after, "ec_sync_mutations_total", **refused)
        - value(before, "ec_sync_mutations_total", **refused)
        == 2
    )
    assert value(after, "ec_http_request_bytes_total", route="/v1/sync") > 0
    assert value(after, "ec_http_request_duration_seconds_count", method="POST", route="/v1/sync") >= 1
    # No id of any kind in a label.
    for secret in (user_id, tokens.device_id):
        assert secret not in text
    assert not re.search(r'"(usr|dev|off|ntc)_[0-9a-f]', text)


@pytest.mark.timeout(120)
def test_two_api_processes_and_a_worker_share_one_host_view(tmp_path: Path, redis_url: str) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    database = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    env = {METRICS_MULTIPROC_ENV: str(folder), "DATABASE_URL": database, "QUEUE_NAME": "ec:test:metrics"}
    with (
        LiveServer(tmp_path / "a", redis_url, env=env) as a,
        LiveServer(tmp_path / "b", redis_url, env=env) as b,
    ):
        user_id = a.create_user()
        tokens = a.enroll(a.enrollment_code(user_id))
        for server, n in ((a, 3), (b, 2)):
            for _ in range(n):
                assert server.admin.get("/v1/admin/outbox").status_code == 200
        sync_ok(b, tokens, [])
        # Either process answers for the host: both counted every request of both.
        stats = {"method": "GET", "route": "/v1/admin/outbox", "status": "200"}
        assert value(scrape(a)[1], "ec_http_requests_total", **stats) == 5
        assert value(scrape(b)[1], "ec_http_requests_total", **stats) == 5

        profile = {"currency": "BRL", "limit_cents": 100_000, "used_cents": 0, "rate_bps": 1_990}
        features = {"months_on_book": 24, "on_time_payments_12m": 12, "missed_payments_12m": 0}
        assert a.admin.post(f"/v1/admin/users/{user_id}/profile", json=profile).status_code == 200
        put = a.admin.put(
            f"/v1/admin/users/{user_id}/credit-features", json={**features, "income_band": "high"}
        )
        assert put.status_code == 200
        assert a.admin.post(f"/v1/admin/users/{user_id}/evaluate").status_code == 202
        worker_env = {METRICS_MULTIPROC_ENV: str(folder), "METRICS_INTERVAL_S": "0.5"}
        with worker_process(a, "ec:test:metrics", tmp_path / "worker.log", **worker_env):
            deadline = time.monotonic() + 30
            while True:
                samples = scrape(b)[1]
                evaluated = value(samples, "ec_jobs_total", job="evaluate_credit", outcome="recorded")
                if value(samples, "ec_gauges_refreshed_timestamp_seconds") > 0 and evaluated:
                    break
                assert time.monotonic() < deadline, "no worker set the gauges or ran the evaluation"
                time.sleep(0.2)
        guardrail = [v for (name, _), v in samples.items() if name == "ec_guardrail_decisions_total"]
        assert sum(guardrail) >= 1
        assert value(samples, "ec_job_duration_seconds_count", job="evaluate_credit") == 1
        assert value(samples, "ec_devices_seen", window="1h") == 1
        assert value(samples, "ec_devices_seen", window="24h") == 1
        # Every status of the funnel is there, a zero too.
        statuses = {dict(labels)["status"] for name, labels in samples if name == "ec_offers"}
        assert statuses == {"offered", "accepted", "applied", "declined", "expired", "withdrawn", "failed"}
        assert value(samples, "ec_outbox_rows", kind="apply_offer", state="pending") == 0
        assert ("ec_queue_depth", frozenset()) in samples
