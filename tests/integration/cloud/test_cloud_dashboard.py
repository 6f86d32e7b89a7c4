"""The dashboard over HTTP: the page and its files (a strict CSP, nothing from elsewhere), the
snapshot and the event stream behind the admin token, and a stream refused to another origin."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cloud.embedded_redis import EmbeddedRedis, free_port
from sync.messages import ConsentScope, SetConsent
from tests.support.live_server import LiveServer, sample_aggregate, sync_ok


def test_the_page_loads_only_its_own_files_under_a_strict_policy(live_server: LiveServer) -> None:
    page = httpx.get(live_server.base_url + "/dashboard", timeout=10.0)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "connect-src 'self'" in policy
    referenced = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert referenced == ["/dashboard/assets/dashboard.css", "/dashboard/assets/dashboard.js"]
    for url in referenced:
        assert httpx.get(live_server.base_url + url, timeout=10.0).status_code == 200
    missing = httpx.get(live_server.base_url + "/dashboard/assets/dashboard.html", timeout=10.0)
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"


def test_the_snapshot_needs_the_admin_token(live_server: LiveServer) -> None:
    refused = httpx.get(live_server.base_url + "/v1/admin/dashboard", timeout=10.0)
    assert refused.status_code == 401 and refused.json()["code"] == "admin_unauthorized"
    snapshot = live_server.admin.get("/v1/admin/dashboard").json()
    assert set(snapshot) == {"at", "figures", "charts"}
    assert set(snapshot["charts"]) == {
        "sync_rate",
        "funnel",
        "pushes",
        "guardrail",
        "stress",
        "valence",
        "arousal",
    }
    assert all(svg.startswith("<svg") for svg in snapshot["charts"].values())
    assert snapshot["figures"]["sync_requests_per_s"] is None  # a rate needs two snapshots of a stream


def test_the_stream_sends_a_snapshot_at_once_to_its_own_origin(live_server: LiveServer) -> None:
    headers = {"Authorization": f"Bearer {live_server.admin_token}", "Origin": live_server.base_url}
    with httpx.stream(
        "GET", live_server.base_url + "/v1/admin/dashboard/stream", headers=headers, timeout=10.0
    ) as reply:
        assert reply.status_code == 200
        assert reply.headers["content-type"].startswith("text/event-stream")
        lines: list[str] = []
        for line in reply.iter_lines():
            if not line and lines:
                break
            lines.append(line)
    assert lines[0] == "event: snapshot"
    snapshot = json.loads("".join(line.removeprefix("data: ") for line in lines[1:]))
    assert snapshot["figures"]["sync_requests_per_s"] is None and "funnel" in snapshot["charts"]


def test_the_stream_refuses_another_origin_and_a_missing_token(live_server: LiveServer) -> None:
    url = live_server.base_url + "/v1/admin/dashboard/stream"
    evil = httpx.get(
        url,
        headers={"Authorization": f"Bearer {live_server.admin_token}", "Origin": "https://evil.example"},
        timeout=10.0,
    )
    assert evil.status_code == 403 and evil.json()["code"] == "origin_refused"
    anonymous = httpx.get(url, headers={"Origin": live_server.base_url}, timeout=10.0)
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "admin_unauthorized"


def _events(reply: httpx.Response) -> Iterator[dict[str, Any]]:
    data: list[str] = []
    for line in reply.iter_lines():
        if line.startswith("data: "):
            data.append(line.removeprefix("data: "))
        elif not line and data:
            yield json.loads("".join(data))
            data = []


def test_a_sync_on_one_api_process_reaches_the_stream_of_another(tmp_path: Path, redis_url: str) -> None:
    # One database and one queue (so one dashboard channel) for both; the stream's own refresh is
    # ten minutes away, so only the announcement through Redis can bring the second snapshot.
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'shared.sqlite3'}",
        "QUEUE_NAME": f"ec:test:dashboard:{uuid.uuid4().hex}",
        "DASHBOARD_REFRESH_S": "600",
    }
    with (
        LiveServer(tmp_path / "a", redis_url, env=env) as a,
        LiveServer(tmp_path / "b", redis_url, env=env) as b,
    ):
        tokens = a.new_device()
        headers = {"Authorization": f"Bearer {b.admin_token}"}
        with httpx.stream(
            "GET", b.base_url + "/v1/admin/dashboard/stream", headers=headers, timeout=20.0
        ) as reply:
            events = _events(reply)
            assert next(events)["figures"]["stress_reports"] == 0
            today = dt.datetime.now(dt.UTC).date().isoformat()
            share = SetConsent(seq=1, created_at=0, scope=ConsentScope.SHARE_AGGREGATES, granted=True)
            sync_ok(a, tokens, [share, sample_aggregate(2, day=today)])
            assert next(events)["figures"]["stress_reports"] == 1


@pytest.mark.timeout(90)
def test_announcements_resume_after_redis_comes_back(tmp_path: Path) -> None:
    port = free_port()
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'shared.sqlite3'}",
        "QUEUE_NAME": f"ec:test:dashboard:{uuid.uuid4().hex}",
        "DASHBOARD_REFRESH_S": "600",
        # Without Redis a sync is refused by the rate limiter (503); this test is about the
        # announcements, so the sync is not limited here.
        "RATE_LIMIT_SYNC": "off",
    }
    today = dt.datetime.now(dt.UTC).date()
    redis = EmbeddedRedis(tmp_path / "redis", port=port)
    redis.start()
    try:
        url = redis.url
        with LiveServer(tmp_path / "a", url, env=env) as a, LiveServer(tmp_path / "b", url, env=env) as b:
            tokens = a.new_device()
            share = SetConsent(seq=1, created_at=0, scope=ConsentScope.SHARE_AGGREGATES, granted=True)
            headers = {"Authorization": f"Bearer {b.admin_token}"}
            stream = b.base_url + "/v1/admin/dashboard/stream"
            with httpx.stream("GET", stream, headers=headers, timeout=30.0) as reply:
                events = _events(reply)
                assert next(events)["figures"]["stress_reports"] == 0
                redis.stop()
                # Redis away: the sync still succeeds; its announcement is lost, nothing else.
                sync_ok(a, tokens, [share, sample_aggregate(2, day=today.isoformat())])
                redis.start()
                time.sleep(3)  # the backend listens again within RETRY_S of Redis answering
                yesterday = (today - dt.timedelta(days=1)).isoformat()
                sync_ok(a, tokens, [sample_aggregate(3, day=yesterday)])
                assert next(events)["figures"]["stress_reports"] == 2
    finally:
        redis.stop()
