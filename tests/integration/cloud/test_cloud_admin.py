"""The admin API: happy paths and its bad input (unknown ids, bad bodies, missing or wrong token)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sync.codes import ErrorCode
from tests.support.live_server import LiveServer


def _problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code and body["status"] == status
    assert body["request_id"] == response.headers["x-request-id"]
    return body


ENDPOINTS = [
    ("POST", "/v1/admin/users", {"external_ref": None}),
    ("POST", "/v1/admin/users/usr_x/enrollment-codes", {}),
    ("GET", "/v1/admin/devices", None),
    ("POST", "/v1/admin/devices/dev_x/revoke", None),
    ("POST", "/v1/admin/users/usr_x/notices", {"kind": "k", "title": "t", "body": "b"}),
    ("GET", "/v1/admin/users/usr_x/view", None),
]


@pytest.mark.parametrize(("method", "path", "payload"), ENDPOINTS)
@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", "test-admin-token", "Bearer"])
def test_missing_or_wrong_admin_token_is_401(
    live_server: LiveServer, method: str, path: str, payload: Any, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = httpx.request(method, f"{live_server.base_url}{path}", json=payload, headers=headers)
    _problem(response, 401, ErrorCode.ADMIN_UNAUTHORIZED)


def test_admin_rejected_creates_nothing(live_server: LiveServer) -> None:
    before = live_server.admin.get("/v1/admin/devices").json()["items"]
    response = httpx.post(
        f"{live_server.base_url}/v1/admin/users/x/enrollment-codes",
        json={},
        headers={"Authorization": "Bearer nope"},
    )
    assert response.status_code == 401
    assert live_server.admin.get("/v1/admin/devices").json()["items"] == before


def test_unknown_user_is_404(live_server: LiveServer) -> None:
    _problem(live_server.admin.post("/v1/admin/users/usr_nobody/enrollment-codes", json={}), 404, "not_found")
    _problem(live_server.admin.get("/v1/admin/users/usr_nobody/view"), 404, "not_found")
    payload = {"kind": "info", "title": "t", "body": ""}
    _problem(live_server.admin.post("/v1/admin/users/usr_nobody/notices", json=payload), 404, "not_found")


def test_unknown_device_revoke_is_404(live_server: LiveServer) -> None:
    _problem(live_server.admin.post("/v1/admin/devices/dev_nobody/revoke"), 404, "not_found")


@pytest.mark.parametrize("ttl", [0, -5, "ten", 10**9, 1.5])
def test_bad_ttl_is_400_and_issues_no_code(live_server: LiveServer, ttl: Any) -> None:
    user_id = live_server.create_user()
    response = live_server.admin.post(f"/v1/admin/users/{user_id}/enrollment-codes", json={"ttl_s": ttl})
    problem = _problem(response, 400, ErrorCode.VALIDATION_FAILED)
    assert "ttl_s" in problem["detail"]


@pytest.mark.parametrize(
    "payload",
    [
        {"kind": "info", "title": "", "body": ""},
        {"kind": "info", "title": "t"},
        {"kind": "x" * 65, "title": "t", "body": ""},
        {"kind": "info", "title": "t", "body": 5},
    ],
)
def test_bad_notice_is_400_and_appends_nothing(live_server: LiveServer, payload: dict[str, Any]) -> None:
    user_id = live_server.create_user()
    _problem(
        live_server.admin.post(f"/v1/admin/users/{user_id}/notices", json=payload), 400, "validation_failed"
    )
    view = live_server.user_view(user_id)
    assert view["version"] == 0 and view["notices"] == []


def test_bad_user_body_is_400(live_server: LiveServer) -> None:
    _problem(live_server.admin.post("/v1/admin/users", json={"external_ref": 5}), 400, "validation_failed")
    _problem(
        live_server.admin.post("/v1/admin/users", content=b"{", headers={"Content-Type": "application/json"}),
        400,
        "invalid_body",  # not JSON at all, as on every admin and sync endpoint (spec §9)
    )


def test_create_code_list_revoke_and_view(live_server: LiveServer) -> None:
    user_id = live_server.create_user("ref-1")
    response = live_server.admin.post(f"/v1/admin/users/{user_id}/enrollment-codes", json={"ttl_s": 600})
    assert response.status_code == 201
    code = response.json()
    assert set(code) == {"code", "expires_at"}
    tokens = live_server.enroll(code["code"])
    devices = live_server.admin.get("/v1/admin/devices", params={"user_id": user_id}).json()["items"]
    assert [d["device_id"] for d in devices] == [tokens.device_id]
    assert set(devices[0]) == {
        "device_id",
        "user_id",
        "platform",
        "last_seq",
        "skew_ms",
        "revoked",
        "created_at",
        "last_seen_at",
        "lineage_id",
    }
    assert devices[0]["lineage_id"] == tokens.device_id  # a first device starts its own lineage
    all_devices = live_server.admin.get("/v1/admin/devices").json()["items"]
    assert tokens.device_id in {d["device_id"] for d in all_devices}

    notice = live_server.admin.post(
        f"/v1/admin/users/{user_id}/notices", json={"kind": "info", "title": "hi", "body": "there"}
    )
    assert notice.status_code == 201 and notice.json()["version"] == 1

    revoked = live_server.admin.post(f"/v1/admin/devices/{tokens.device_id}/revoke")
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    # Revoking twice is harmless.
    assert live_server.admin.post(f"/v1/admin/devices/{tokens.device_id}/revoke").status_code == 200

    view = live_server.user_view(user_id)
    assert view["user_id"] == user_id and view["version"] == 1
    assert view["offers"] == [] and view["profile"] is None and view["consent"] == {}
    [n] = view["notices"]
    assert n["type"] == "Notice" and n["title"] == "hi" and n["version"] == 1 and n["acked"] is False
    assert view["devices"][0]["revoked"] is True
