"""CORS is closed by default (no other site's page may call the API from a browser) and opens only
to the exact origins of ``CORS_ALLOW_ORIGINS``; the setting refuses ``*`` and what is not an origin."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from cloud.settings import load_settings
from tests.support.live_server import LiveServer

OPS = "https://ops.example.com"


def preflight(server: LiveServer, origin: str) -> httpx.Response:
    return httpx.options(
        server.base_url + "/v1/admin/users",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
        timeout=10.0,
    )


def test_closed_by_default(live_server: LiveServer) -> None:
    for origin in (OPS, "https://evil.example"):
        assert "access-control-allow-origin" not in preflight(live_server, origin).headers
        reply = live_server.admin.get("/v1/admin/users", headers={"Origin": origin})
        assert reply.status_code == 200 and "access-control-allow-origin" not in reply.headers


def test_an_allowlisted_origin_and_no_other(tmp_path: Path, redis_url: str) -> None:
    with LiveServer(tmp_path, redis_url, env={"CORS_ALLOW_ORIGINS": OPS}) as server:
        allowed = preflight(server, OPS)
        assert allowed.status_code in (200, 204)
        assert allowed.headers["access-control-allow-origin"] == OPS
        assert "access-control-allow-credentials" not in allowed.headers
        reply = server.admin.get("/v1/admin/users", headers={"Origin": OPS})
        assert reply.headers["access-control-allow-origin"] == OPS
        assert "x-request-id" in reply.headers["access-control-expose-headers"]
        other = preflight(server, "https://evil.example")
        assert "access-control-allow-origin" not in other.headers
        # The dashboard's stream takes the listed origin as its own, and still refuses others.
        headers = {"Authorization": f"Bearer {server.admin_token}", "Origin": "https://evil.example"}
        refused = httpx.get(server.base_url + "/v1/admin/dashboard/stream", headers=headers, timeout=10.0)
        assert refused.status_code == 403 and refused.json()["code"] == "origin_refused"


@pytest.mark.parametrize(
    "value",
    [
        "*",
        "https://ops.example.com/",
        "https://ops.example.com/path",
        "ops.example.com",
        "ftp://x.example",
        "https://a b",
    ],
)
def test_the_setting_refuses_what_is_not_an_exact_origin(tmp_path: Path, value: str) -> None:
    with pytest.raises(ValueError, match="CORS_ALLOW_ORIGINS"):
        load_settings({"DATA_DIR": str(tmp_path), "CORS_ALLOW_ORIGINS": value})


def test_the_setting_reads_a_list(tmp_path: Path) -> None:
    settings = load_settings(
        {"DATA_DIR": str(tmp_path), "CORS_ALLOW_ORIGINS": f" {OPS}, http://127.0.0.1:8080 "}
    )
    assert settings.api.cors_origins == (OPS, "http://127.0.0.1:8080")
