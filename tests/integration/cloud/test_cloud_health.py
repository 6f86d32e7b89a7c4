"""Health probes, OpenAPI, request ids and Litestar's own errors as problem+json."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx

from tests.support.live_server import LiveServer


def test_live_and_ready(live_server: LiveServer) -> None:
    assert httpx.get(f"{live_server.base_url}/health/live").status_code == 200
    ready = httpx.get(f"{live_server.base_url}/health/ready")
    assert ready.status_code == 200 and ready.json()["redis"] == "ok"


def test_ready_is_503_when_redis_is_down(tmp_path: Path) -> None:
    # Nothing listens on port 1: the database answers, Redis does not.
    server = LiveServer(tmp_path, "redis://127.0.0.1:1/0")
    server.start(ready=False)
    try:
        response = httpx.get(f"{server.base_url}/health/ready")
        assert response.status_code == 503
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "unavailable" and "redis" in response.json()["detail"]
        assert response.headers["retry-after"] == str(response.json()["retry_after_s"])
        assert httpx.get(f"{server.base_url}/health/live").status_code == 200
    finally:
        server.close()


def test_openapi_schema(live_server: LiveServer) -> None:
    response = httpx.get(f"{live_server.base_url}/schema/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {"/v1/sync", "/v1/devices/enroll", "/v1/devices/token", "/v1/admin/users"} <= set(paths)


def test_request_id_is_echoed_or_generated(live_server: LiveServer) -> None:
    echoed = httpx.get(f"{live_server.base_url}/health/live", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    generated = httpx.get(f"{live_server.base_url}/health/live")
    assert len(generated.headers["x-request-id"]) == 32
    forged = httpx.get(f"{live_server.base_url}/health/live", headers={"X-Request-ID": "a b\tc" * 50})
    assert forged.headers["x-request-id"] != "a b\tc" * 50


def test_unknown_route_and_wrong_method_are_problems(live_server: LiveServer) -> None:
    missing = httpx.get(f"{live_server.base_url}/nope", headers={"X-Request-ID": "rid-404"})
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert missing.json()["code"] == "not_found" and missing.json()["request_id"] == "rid-404"
    wrong = httpx.get(f"{live_server.base_url}/v1/sync")
    assert wrong.status_code == 405
    assert wrong.json()["code"] == "method_not_allowed"
    assert wrong.json()["request_id"] == wrong.headers["x-request-id"]


def test_request_id_is_in_the_log(live_server: LiveServer) -> None:
    rid = f"rid-log-{uuid.uuid4().hex}"
    response = httpx.get(f"{live_server.base_url}/v1/nothing-here", headers={"X-Request-ID": rid})
    assert response.status_code == 404
    lines = [line for line in live_server.log_tail(500).splitlines() if rid in line]
    assert lines and all(f"[{rid}]" in line for line in lines)
