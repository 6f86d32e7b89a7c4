"""Enrollment and refresh-token rotation over HTTP, with every rejection."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from sync.codec import MediaType, decode_tokens, encode
from sync.codes import ErrorCode
from sync.messages import EnrollRequest, Platform, RefreshRequest, TokenPair
from tests.support.live_server import LiveServer, sync_ok


def _problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    assert body["request_id"] == response.headers["x-request-id"]


def _post(server: LiveServer, path: str, body: bytes, media: MediaType = MediaType.JSON) -> httpx.Response:
    return httpx.post(f"{server.base_url}{path}", content=body, headers={"Content-Type": media.value})


def _enroll(server: LiveServer, code: str, media: MediaType = MediaType.JSON) -> httpx.Response:
    return _post(
        server, "/v1/devices/enroll", encode(EnrollRequest(code=code, platform=Platform.IOS), media), media
    )


def _refresh(server: LiveServer, device_id: str, token: str) -> httpx.Response:
    body = encode(RefreshRequest(device_id=device_id, refresh_token=token), MediaType.JSON)
    return _post(server, "/v1/devices/token", body)


def _pair(response: httpx.Response) -> TokenPair:
    assert response.status_code == 200, response.text
    return decode_tokens(response.content, MediaType.JSON)


def _devices(server: LiveServer, user_id: str) -> list[dict[str, Any]]:
    response = server.admin.get("/v1/admin/devices", params={"user_id": user_id})
    assert response.status_code == 200
    devices: list[dict[str, Any]] = response.json()
    return devices


@pytest.mark.parametrize("media", [MediaType.JSON, MediaType.MSGPACK])
def test_enroll_returns_token_pair_and_a_device(live_server: LiveServer, media: MediaType) -> None:
    user_id = live_server.create_user("crm-42")
    response = _enroll(live_server, live_server.enrollment_code(user_id), media)
    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith(media.value)
    tokens = decode_tokens(response.content, media)
    assert tokens.user_id == user_id
    now_ms = time.time() * 1000
    assert tokens.access_expires_at > now_ms
    assert tokens.refresh_expires_at >= now_ms + 89 * 24 * 3600 * 1000
    [device] = _devices(live_server, user_id)
    assert device["device_id"] == tokens.device_id and device["platform"] == "ios"
    assert device["last_seq"] == 0 and device["revoked"] is False
    assert sync_ok(live_server, tokens).last_seq == 0


def test_unknown_code_is_401(live_server: LiveServer) -> None:
    _problem(_enroll(live_server, "no-such-code"), 401, ErrorCode.ENROLLMENT_CODE_INVALID)


def test_used_code_is_401_and_creates_no_second_device(live_server: LiveServer) -> None:
    user_id = live_server.create_user()
    code = live_server.enrollment_code(user_id)
    assert _enroll(live_server, code).status_code == 201
    _problem(_enroll(live_server, code), 401, ErrorCode.ENROLLMENT_CODE_USED)
    assert len(_devices(live_server, user_id)) == 1


def test_expired_code_is_401_and_creates_no_device(live_server: LiveServer) -> None:
    user_id = live_server.create_user()
    code = live_server.enrollment_code(user_id, ttl_s=1)
    time.sleep(1.05)
    _problem(_enroll(live_server, code), 401, ErrorCode.ENROLLMENT_CODE_EXPIRED)
    assert _devices(live_server, user_id) == []


@pytest.mark.parametrize(
    ("media", "body"),
    [
        (MediaType.JSON, b"{"),
        (MediaType.JSON, b'{"type": "EnrollRequest", "code": "x"}'),
        (MediaType.JSON, b'{"type": "EnrollRequest", "code": "x", "platform": "windows"}'),
        (MediaType.JSON, b'{"type": "EnrollRequest", "code": "", "platform": "ios"}'),
        (MediaType.MSGPACK, b"\xc1"),
    ],
)
def test_malformed_enroll_body_is_400(live_server: LiveServer, media: MediaType, body: bytes) -> None:
    _problem(_post(live_server, "/v1/devices/enroll", body, media), 400, ErrorCode.INVALID_BODY)


def test_enroll_with_unsupported_media_type_is_415(live_server: LiveServer) -> None:
    response = httpx.post(f"{live_server.base_url}/v1/devices/enroll", content=b"code=x")
    _problem(response, 415, ErrorCode.UNSUPPORTED_MEDIA_TYPE)


def test_refresh_rotates(live_server: LiveServer) -> None:
    first = live_server.new_device()
    response = _refresh(live_server, first.device_id, first.refresh_token)
    assert response.status_code == 200, response.text
    second = decode_tokens(response.content, MediaType.JSON)
    assert second.device_id == first.device_id and second.user_id == first.user_id
    assert second.refresh_token != first.refresh_token
    assert second.access_token != first.access_token
    assert sync_ok(live_server, second).last_seq == 0
    # The new refresh token rotates in turn.
    third = _refresh(live_server, second.device_id, second.refresh_token)
    assert third.status_code == 200


def test_replay_within_grace_returns_the_same_pair(live_server: LiveServer) -> None:
    first = live_server.new_device()
    a = _refresh(live_server, first.device_id, first.refresh_token)
    b = _refresh(live_server, first.device_id, first.refresh_token)
    assert a.status_code == b.status_code == 200
    assert decode_tokens(a.content, MediaType.JSON) == decode_tokens(b.content, MediaType.JSON)
    # The replayed pair is the live one: it rotates normally.
    pair = decode_tokens(b.content, MediaType.JSON)
    assert _refresh(live_server, pair.device_id, pair.refresh_token).status_code == 200


def test_reusing_an_older_token_revokes_all_of_the_devices_tokens(live_server: LiveServer) -> None:
    first = live_server.new_device()
    second = decode_tokens(
        _refresh(live_server, first.device_id, first.refresh_token).content, MediaType.JSON
    )
    third = decode_tokens(
        _refresh(live_server, second.device_id, second.refresh_token).content, MediaType.JSON
    )
    # ``first`` is two rotations old: not the just-spent token, so it is a reuse.
    _problem(_refresh(live_server, first.device_id, first.refresh_token), 401, ErrorCode.REFRESH_REUSED)
    # Every refresh token of the device is now dead, the newest included.
    _problem(_refresh(live_server, third.device_id, third.refresh_token), 401, ErrorCode.REFRESH_INVALID)
    _problem(_refresh(live_server, second.device_id, second.refresh_token), 401, ErrorCode.REFRESH_REUSED)


def test_unknown_refresh_token_is_401(live_server: LiveServer) -> None:
    tokens = live_server.new_device()
    _problem(_refresh(live_server, tokens.device_id, "not-a-token"), 401, ErrorCode.REFRESH_INVALID)
    _problem(_refresh(live_server, "dev_unknown", tokens.refresh_token), 401, ErrorCode.REFRESH_INVALID)
    # The failed attempts did not spend the real token.
    assert _refresh(live_server, tokens.device_id, tokens.refresh_token).status_code == 200


def test_refresh_token_of_another_device_is_401(live_server: LiveServer) -> None:
    mine, other = live_server.new_device(), live_server.new_device()
    _problem(_refresh(live_server, mine.device_id, other.refresh_token), 401, ErrorCode.REFRESH_INVALID)


def test_revoked_device_cannot_refresh(live_server: LiveServer) -> None:
    tokens = live_server.new_device()
    assert live_server.admin.post(f"/v1/admin/devices/{tokens.device_id}/revoke").status_code == 200
    _problem(_refresh(live_server, tokens.device_id, tokens.refresh_token), 403, ErrorCode.DEVICE_REVOKED)


def test_malformed_refresh_body_is_400(live_server: LiveServer) -> None:
    _problem(
        _post(live_server, "/v1/devices/token", b'{"type": "RefreshRequest"}'), 400, ErrorCode.INVALID_BODY
    )


def test_just_spent_token_after_grace_is_a_reuse(redis_url: str, tmp_path: Any) -> None:
    with LiveServer(tmp_path, redis_url, env={"REFRESH_REUSE_GRACE_S": "0"}) as server:
        first: TokenPair = server.new_device()
        assert _refresh(server, first.device_id, first.refresh_token).status_code == 200
        time.sleep(0.01)
        _problem(_refresh(server, first.device_id, first.refresh_token), 401, ErrorCode.REFRESH_REUSED)
