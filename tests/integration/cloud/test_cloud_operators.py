"""Operator accounts over HTTP: bootstrap, login, roles, lockout without revealing accounts, the
dashboard's cookie session with CSRF, logout and revocation at once, the operator named on every
admin write, and the login limit before any hashing. One server of its own (SQLite; the store's
part runs on both engines in tests/conformance/test_store_conformance_operators.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from itertools import count
from typing import Any

import httpx
import pytest

from sync.codes import ErrorCode
from tests.support.live_server import OPERATOR_PASSWORD, LiveServer

PROFILE = {"currency": "EUR", "limit_cents": 100_000, "used_cents": 25_000, "rate_bps": 1_990}
_addresses = count(1)


@pytest.fixture(scope="module")
def server(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    # Each test signs in from addresses of its own (forwarded by 127.0.0.1, a trusted proxy
    # here), so the login limit of one test never meets another's logins.
    env = {
        "TRUSTED_PROXIES": "127.0.0.1",
        "RATE_LIMIT_LOGIN": "4/minute",
        "LOGIN_MAX_FAILURES": "2",
        "LOGIN_LOCKOUT_S": "2",
        "RATE_LIMIT_SERVICE": "8/minute",
        "DASHBOARD_REFRESH_S": "1",
    }
    with LiveServer(tmp_path_factory.mktemp("operators"), redis_url, env=env) as live:
        live.bootstrap_admin("root")
        yield live


def address() -> str:
    return f"198.51.100.{next(_addresses)}"


def login(
    server: LiveServer, username: str, password: str = OPERATOR_PASSWORD, **headers: str
) -> httpx.Response:
    headers.setdefault("x-forwarded-for", address())
    return httpx.post(
        f"{server.base_url}/v1/admin/login",
        json={"username": username, "password": password},
        headers=headers,
    )


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def as_root(server: LiveServer) -> dict[str, str]:
    return bearer(login(server, "root").json()["token"])


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    return body


def test_the_first_admin_is_bootstrapped_once(server: LiveServer) -> None:
    again = httpx.post(
        f"{server.base_url}/v1/admin/operators/bootstrap",
        json={"username": "second", "password": OPERATOR_PASSWORD},
        headers=bearer(server.admin_token),
    )
    problem(again, 409, ErrorCode.BOOTSTRAP_CLOSED)
    listed = httpx.get(f"{server.base_url}/v1/admin/operators", headers=as_root(server)).json()["items"]
    assert [(o["username"], o["role"]) for o in listed][:1] == [("root", "admin")]
    assert all("hash" not in key for o in listed for key in o)


def test_production_accepts_the_static_token_for_the_bootstrap_only(production_server: LiveServer) -> None:
    static = bearer(production_server.admin_token_at_start)
    refused = httpx.get(f"{production_server.base_url}/v1/admin/users", headers=static)
    assert "sign in" in problem(refused, 401, ErrorCode.ADMIN_UNAUTHORIZED)["detail"]
    # The fixture bootstrapped with it and signed in: the session works, a second bootstrap does not.
    assert production_server.admin.get("/v1/admin/users").status_code == 200
    again = httpx.post(
        f"{production_server.base_url}/v1/admin/operators/bootstrap",
        json={"username": "intruder", "password": OPERATOR_PASSWORD},
        headers=static,
    )
    problem(again, 409, ErrorCode.BOOTSTRAP_CLOSED)


def test_each_role_does_what_it_may_and_no_more(server: LiveServer) -> None:
    root = as_root(server)
    for name, role in (("vic", "viewer"), ("otto", "operator")):
        created = httpx.post(
            f"{server.base_url}/v1/admin/operators",
            json={"username": name, "password": OPERATOR_PASSWORD, "role": role},
            headers=root,
        )
        assert created.status_code == 201, created.text
    viewer = bearer(login(server, "vic").json()["token"])
    operator = bearer(login(server, "otto").json()["token"])
    base = server.base_url
    assert httpx.get(f"{base}/v1/admin/users", headers=viewer).status_code == 200
    assert httpx.get(f"{base}/v1/admin/me", headers=viewer).json() == {
        "actor": "operator:vic",
        "role": "viewer",
    }
    before = httpx.get(f"{base}/v1/admin/users", headers=root).json()["items"]
    problem(httpx.post(f"{base}/v1/admin/users", json={}, headers=viewer), 403, ErrorCode.ROLE_FORBIDDEN)
    assert httpx.get(f"{base}/v1/admin/users", headers=root).json()["items"] == before  # nothing written
    user = httpx.post(f"{base}/v1/admin/users", json={}, headers=operator)
    assert user.status_code == 201
    problem(httpx.get(f"{base}/v1/admin/operators", headers=operator), 403, ErrorCode.ROLE_FORBIDDEN)
    problem(httpx.get(f"{base}/v1/admin/auth-audit", headers=operator), 403, ErrorCode.ROLE_FORBIDDEN)
    dup = {"username": "vic", "password": OPERATOR_PASSWORD, "role": "admin"}
    problem(httpx.post(f"{base}/v1/admin/operators", json=dup, headers=root), 409, ErrorCode.OPERATOR_EXISTS)


def test_every_admin_write_names_its_operator(server: LiveServer) -> None:
    server.create_operator("olga", "operator")
    olga = bearer(login(server, "olga").json()["token"])
    user_id = server.create_user()
    set_profile = httpx.post(
        f"{server.base_url}/v1/admin/users/{user_id}/profile", json=PROFILE, headers=olga
    )
    assert set_profile.status_code in (200, 201), set_profile.text
    trail = httpx.get(f"{server.base_url}/v1/admin/users/{user_id}/audit", headers=olga).json()
    assert [(a["actor"], a["reason_code"]) for a in trail] == [("operator:olga", "profile_set")]


def test_failed_logins_lock_the_account_and_never_say_whether_it_exists(server: LiveServer) -> None:
    server.create_operator("lena", "viewer")
    answers = []

    def fail(username: str) -> None:
        answer = login(server, username, "a wrong password")
        body = problem(answer, 401, ErrorCode.LOGIN_FAILED)
        answers.append({k: v for k, v in body.items() if k != "request_id"})

    for _ in range(2):
        fail("lena")
    locked_at = time.monotonic()
    # Locked: the right password is refused too, until LOGIN_LOCKOUT_S (2 s here) has passed.
    problem(login(server, "lena"), 401, ErrorCode.LOGIN_FAILED)
    for _ in range(2):
        fail("nobody-at-all")
    assert all(a == answers[0] for a in answers)  # one answer, account or not
    time.sleep(max(0.0, locked_at + 2.2 - time.monotonic()))
    assert login(server, "lena").status_code == 200
    events = httpx.get(f"{server.base_url}/v1/admin/auth-audit?limit=50", headers=as_root(server)).json()[
        "items"
    ]
    lena = [e["event"] for e in events if e["username"] == "lena"]
    assert lena[:3] == ["login_succeeded", "login_failed", "account_locked"]
    assert [e["event"] for e in events if e["username"] == "nobody-at-all"] == ["login_failed"] * 2


def test_the_dashboard_cookie_session_needs_its_csrf_token_to_write(server: LiveServer) -> None:
    server.create_operator("cora", "operator")
    with httpx.Client(base_url=server.base_url, headers={"x-forwarded-for": address()}) as browser:
        signed_in = browser.post("/v1/admin/login", json={"username": "cora", "password": OPERATOR_PASSWORD})
        assert signed_in.status_code == 200
        cookies = {c.name: c for c in browser.cookies.jar}
        session = signed_in.headers.get_list("set-cookie")
        assert any(
            c.startswith("ec_session=") and "HttpOnly" in c and "SameSite=strict" in c for c in session
        )
        assert browser.get("/v1/admin/users").status_code == 200  # reading needs no token
        problem(browser.post("/v1/admin/users", json={}), 403, ErrorCode.CSRF_FAILED)
        forged = {"x-csrf-token": "0" * 32}
        problem(browser.post("/v1/admin/users", json={}, headers=forged), 403, ErrorCode.CSRF_FAILED)
        csrf = {"x-csrf-token": cookies["ec_csrf"].value or ""}
        assert browser.post("/v1/admin/users", json={}, headers=csrf).status_code == 201
        assert browser.post("/v1/admin/logout", headers=csrf).status_code == 204
        # Ended at once, for the cookie and for the same session as a bearer token.
        browser.cookies.set("ec_session", signed_in.json()["token"])
        problem(browser.get("/v1/admin/users"), 401, ErrorCode.ADMIN_UNAUTHORIZED)
        problem(
            httpx.get(f"{server.base_url}/v1/admin/me", headers=bearer(signed_in.json()["token"])),
            401,
            ErrorCode.ADMIN_UNAUTHORIZED,
        )


def test_a_role_change_or_a_disable_acts_on_live_sessions_at_once(server: LiveServer) -> None:
    server.create_operator("dora", "operator")
    dora = bearer(login(server, "dora").json()["token"])
    root = as_root(server)
    base = server.base_url
    demoted = httpx.put(f"{base}/v1/admin/operators/dora/role", json={"role": "viewer"}, headers=root)
    assert demoted.json()["role"] == "viewer"
    problem(httpx.post(f"{base}/v1/admin/users", json={}, headers=dora), 403, ErrorCode.ROLE_FORBIDDEN)
    assert httpx.post(f"{base}/v1/admin/operators/dora/disable", headers=root).json()["disabled"] is True
    problem(httpx.get(f"{base}/v1/admin/users", headers=dora), 401, ErrorCode.ADMIN_UNAUTHORIZED)
    problem(login(server, "dora"), 401, ErrorCode.LOGIN_FAILED)
    problem(httpx.post(f"{base}/v1/admin/operators/root/disable", headers=root), 409, ErrorCode.LAST_ADMIN)
    problem(httpx.post(f"{base}/v1/admin/operators/ghost/disable", headers=root), 404, ErrorCode.NOT_FOUND)


def test_logins_are_limited_per_address_before_any_password_is_hashed(server: LiveServer) -> None:
    one = address()
    answers = [login(server, "root", **{"x-forwarded-for": one}).status_code for _ in range(5)]
    assert answers == [200, 200, 200, 200, 429]
    held = login(server, "root", **{"x-forwarded-for": one})
    problem(held, 429, ErrorCode.RATE_LIMITED)
    assert login(server, "root").status_code == 200  # another address


def test_service_keys_act_in_their_role_rotate_without_downtime_and_are_limited_per_key(
    server: LiveServer,
) -> None:
    root = as_root(server)
    base = server.base_url

    def create(name: str, role: str) -> dict[str, Any]:
        made = httpx.post(f"{base}/v1/admin/service-keys", json={"name": name, "role": role}, headers=root)
        assert made.status_code == 201, made.text
        body: dict[str, Any] = made.json()
        return body

    first, reader = create("lender", "operator"), create("reports", "viewer")
    assert first["key"].startswith("eck_") and first["role"] == "operator"
    lender = bearer(first["key"])
    user = httpx.post(f"{base}/v1/admin/users", json={}, headers=lender)
    assert user.status_code == 201
    profile = httpx.post(
        f"{base}/v1/admin/users/{user.json()['user_id']}/profile", json=PROFILE, headers=lender
    )
    assert profile.status_code in (200, 201)
    trail = httpx.get(f"{base}/v1/admin/users/{user.json()['user_id']}/audit", headers=lender).json()
    assert [a["actor"] for a in trail] == ["service:lender"]
    problem(
        httpx.post(f"{base}/v1/admin/users", json={}, headers=bearer(reader["key"])), 403, "role_forbidden"
    )
    problem(httpx.get(f"{base}/v1/admin/service-keys", headers=lender), 403, ErrorCode.ROLE_FORBIDDEN)

    # Rotation: the next key works beside the first until the first is revoked.
    second = create("lender", "operator")
    assert httpx.get(f"{base}/v1/admin/users", headers=bearer(second["key"])).status_code == 200
    revoked = httpx.post(f"{base}/v1/admin/service-keys/{first['key_id']}/revoke", headers=root)
    assert revoked.json()["revoked"] is True
    problem(httpx.get(f"{base}/v1/admin/users", headers=lender), 401, ErrorCode.ADMIN_UNAUTHORIZED)
    forged = bearer(f"eck_{second['key_id']}_not-its-secret")
    problem(httpx.get(f"{base}/v1/admin/users", headers=forged), 401, ErrorCode.ADMIN_UNAUTHORIZED)
    listed = httpx.get(f"{base}/v1/admin/service-keys", headers=root).json()["items"]
    assert {(k["key_id"], k["revoked"]) for k in listed} >= {
        (first["key_id"], True),
        (second["key_id"], False),
    }
    assert all("key" not in k and "secret_hash" not in k for k in listed)

    # Limited per key (8 a minute here): the second key's budget is its own, and the first key's
    # requests (refused as revoked) never counted against it.
    answers = [httpx.get(f"{base}/v1/admin/me", headers=bearer(second["key"])).status_code for _ in range(8)]
    assert answers[-1] == 429 and 200 in answers
    assert httpx.get(f"{base}/v1/admin/me", headers=bearer(reader["key"])).status_code == 200


def test_an_open_dashboard_stream_ends_with_its_session(server: LiveServer) -> None:
    server.create_operator("sam", "viewer")
    token = login(server, "sam").json()["token"]
    started = time.monotonic()
    with httpx.stream(
        "GET", f"{server.base_url}/v1/admin/dashboard/stream", headers=bearer(token), timeout=15.0
    ) as stream:
        lines = stream.iter_lines()
        assert next(line for line in lines if line.startswith("event:")) == "event: snapshot"
        assert httpx.post(f"{server.base_url}/v1/admin/logout", headers=bearer(token)).status_code == 204
        for _ in lines:  # the server ends the stream at its next snapshot (DASHBOARD_REFRESH_S = 1 here)
            pass
    assert time.monotonic() - started < 10
