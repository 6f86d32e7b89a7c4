"""Security headers over a real server: ``nosniff`` on every reply, ``no-store`` on every ``/v1`` reply
(token replies above all, success and error alike), and no ``server`` header anywhere."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from sync.codec import MediaType, encode
from sync.messages import EnrollRequest, Platform, RefreshRequest
from tests.support.live_server import LiveServer, sync_body

JSON = {"Content-Type": MediaType.JSON.value}

Call = Callable[[LiveServer, httpx.Client], httpx.Response]


def _enroll(code: str) -> bytes:
    return encode(EnrollRequest(code=code, platform=Platform.ANDROID), MediaType.JSON)


def _refresh(device_id: str, refresh_token: str) -> bytes:
    return encode(RefreshRequest(device_id=device_id, refresh_token=refresh_token), MediaType.JSON)


def _enroll_ok(server: LiveServer, client: httpx.Client) -> httpx.Response:
    code = server.enrollment_code(server.create_user())
    return client.post("/v1/devices/enroll", content=_enroll(code), headers=JSON)


def _enroll_bad_code(server: LiveServer, client: httpx.Client) -> httpx.Response:
    return client.post("/v1/devices/enroll", content=_enroll("no-such-code"), headers=JSON)


def _refresh_ok(server: LiveServer, client: httpx.Client) -> httpx.Response:
    tokens = server.new_device()
    return client.post(
        "/v1/devices/token", content=_refresh(tokens.device_id, tokens.refresh_token), headers=JSON
    )


def _refresh_bad_token(server: LiveServer, client: httpx.Client) -> httpx.Response:
    tokens = server.new_device()
    return client.post("/v1/devices/token", content=_refresh(tokens.device_id, "not-a-token"), headers=JSON)


def _refresh_bad_body(server: LiveServer, client: httpx.Client) -> httpx.Response:
    return client.post("/v1/devices/token", content=b"{", headers=JSON)


def _enrollment_code(server: LiveServer, client: httpx.Client) -> httpx.Response:
    return server.admin.post(f"/v1/admin/users/{server.create_user()}/enrollment-codes", json={})


def _sync_ok(server: LiveServer, client: httpx.Client) -> httpx.Response:
    tokens = server.new_device()
    headers = {"Content-Type": MediaType.MSGPACK.value, "Authorization": f"Bearer {tokens.access_token}"}
    return client.post("/v1/sync", content=sync_body(tokens.device_id), headers=headers)


def _sync_no_token(server: LiveServer, client: httpx.Client) -> httpx.Response:
    return client.post(
        "/v1/sync", content=sync_body("device-1"), headers={"Content-Type": MediaType.MSGPACK.value}
    )


def _unknown_v1_path(server: LiveServer, client: httpx.Client) -> httpx.Response:
    return client.get("/v1/no-such-path")


def _wrong_method(server: LiveServer, client: httpx.Client) -> httpx.Response:
    return client.get("/v1/devices/enroll")


def _unsupported_media_type(server: LiveServer, client: httpx.Client) -> httpx.Response:
    return client.post("/v1/devices/enroll", content=b"x", headers={"Content-Type": "text/plain"})


# name -> (request, expected status, whether the reply must be no-store)
CASES: dict[str, tuple[Call, int, bool]] = {
    "enroll": (_enroll_ok, 201, True),
    "enroll-bad-code": (_enroll_bad_code, 401, True),
    "refresh": (_refresh_ok, 200, True),
    "refresh-bad-token": (_refresh_bad_token, 401, True),
    "refresh-bad-body": (_refresh_bad_body, 400, True),
    "admin-enrollment-code": (_enrollment_code, 201, True),
    "sync": (_sync_ok, 200, True),
    "sync-no-token": (_sync_no_token, 401, True),
    "unknown-v1-path": (_unknown_v1_path, 404, True),
    "wrong-method": (_wrong_method, 405, True),
    "unsupported-media-type": (_unsupported_media_type, 415, True),
    "health-live": (lambda _, client: client.get("/health/live"), 200, False),
    "health-ready": (lambda _, client: client.get("/health/ready"), 200, False),
    "unknown-path": (lambda _, client: client.get("/no-such-path"), 404, False),
    "openapi-document": (lambda _, client: client.get("/schema/openapi.json"), 200, False),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("server", ["live_server", "production_server"])
def test_security_headers_on_every_reply(request: pytest.FixtureRequest, server: str, case: str) -> None:
    live: LiveServer = request.getfixturevalue(server)
    call, status, no_store = CASES[case]
    with httpx.Client(base_url=live.base_url, timeout=10.0) as client:
        reply = call(live, client)
    assert reply.status_code == status, reply.text
    if status >= 400:
        assert reply.headers["content-type"] == "application/problem+json"
    assert reply.headers.get_list("x-content-type-options") == ["nosniff"]
    assert "server" not in reply.headers
    if no_store:
        assert reply.headers.get_list("cache-control") == ["no-store"]
        assert reply.headers.get_list("pragma") == ["no-cache"]
    else:
        assert "cache-control" not in reply.headers
        assert "pragma" not in reply.headers
