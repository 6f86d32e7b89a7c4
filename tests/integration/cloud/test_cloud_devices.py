"""Enrollment and refresh-token rotation over HTTP, with every rejection."""

from __future__ import annotations

import time
from typing import Any

import httpx
import msgspec
import pytest

from sync.codec import MediaType, decode_tokens, encode
from sync.codes import ErrorCode, RejectionCode
from sync.messages import EnrollRequest, Platform, RefreshRequest, TokenPair
from tests.support.consent import grant_share_aggregates_over_http
from tests.support.databases import Databases
from tests.support.live_server import LiveServer, day_of, post_sync, sample_aggregate, sync_body, sync_ok

pytestmark = pytest.mark.engines("sqlite", "postgres")


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
    devices: list[dict[str, Any]] = response.json()["items"]
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


def own_database(databases: Databases, engine: str) -> dict[str, str]:
    """The environment of a server of the test's own on the module's engine."""
    url = databases.url(engine)
    return {} if url is None else {"DATABASE_URL": url}


def test_just_spent_token_after_grace_gets_its_unused_successor(
    redis_url: str, tmp_path: Any, databases: Databases, engine: str
) -> None:
    # A lost refresh reply, then the device stays offline past the grace period and past the
    # lifetime of the access token in the lost reply.
    env = {"REFRESH_REUSE_GRACE_S": "0", "ACCESS_TOKEN_TTL_S": "2", **own_database(databases, engine)}
    with LiveServer(tmp_path, redis_url, env=env) as server:
        first: TokenPair = server.new_device()
        lost = _pair(_refresh(server, first.device_id, first.refresh_token))
        time.sleep(2.1)
        _problem(
            post_sync(server, lost.access_token, sync_body(first.device_id)), 401, ErrorCode.TOKEN_EXPIRED
        )

        replayed = _pair(_refresh(server, first.device_id, first.refresh_token))
        assert (replayed.refresh_token, replayed.refresh_expires_at) == (
            lost.refresh_token,
            lost.refresh_expires_at,
        )
        # A newly issued access token, not the expired one from the lost reply.
        assert replayed.access_token != lost.access_token
        assert replayed.access_expires_at > lost.access_expires_at
        assert sync_ok(server, replayed).last_seq == 0

        # Once the successor is used, the spent token coming back is a reuse.
        newest = _pair(_refresh(server, replayed.device_id, replayed.refresh_token))
        _problem(_refresh(server, first.device_id, first.refresh_token), 401, ErrorCode.REFRESH_REUSED)
        _problem(_refresh(server, newest.device_id, newest.refresh_token), 401, ErrorCode.REFRESH_INVALID)


@pytest.mark.parametrize("derivation_key_changes", [False, True], ids=["derivation-key-kept", "changed"])
def test_replay_across_a_key_rotation(
    redis_url: str, tmp_path: Any, derivation_key_changes: bool, databases: Databases, engine: str
) -> None:
    # A refresh reply is lost, then the operator rotates JWT_SECRET (and maybe the derivation key)
    # and restarts the server; the device replays its spent token within the grace period.
    env = {"REFRESH_DERIVATION_KEY": "d" * 40, **own_database(databases, engine)}
    server = LiveServer(tmp_path, redis_url, env=env)
    with server:
        first = server.new_device()
        lost = _pair(_refresh(server, first.device_id, first.refresh_token))
        server.extra_env["JWT_SECRET"] = "rotated-jwt-secret-0123456789abcdef0123456789"
        if derivation_key_changes:
            server.extra_env["REFRESH_DERIVATION_KEY"] = "e" * 40
        server.restart(hard=False)

        replayed = _pair(_refresh(server, first.device_id, first.refresh_token))
        # The cached access token was signed with the old key: the replay carries a new one.
        assert replayed.access_token != lost.access_token
        assert sync_ok(server, replayed).last_seq == 0
        if derivation_key_changes:
            # The unused successor was re-keyed to the one derived now; the lost one is gone.
            assert replayed.refresh_token != lost.refresh_token
            _problem(_refresh(server, lost.device_id, lost.refresh_token), 401, ErrorCode.REFRESH_INVALID)
        else:
            assert replayed.refresh_token == lost.refresh_token
        # Either way the replayed refresh token is the live one.
        assert (
            sync_ok(server, _pair(_refresh(server, replayed.device_id, replayed.refresh_token))).last_seq == 0
        )


# --- re-enrollment that replaces a device (a store restored from a backup) --------------------


def _reenroll(
    server: LiveServer, code: str, replaces: str, media: MediaType = MediaType.JSON
) -> httpx.Response:
    request = EnrollRequest(code=code, platform=Platform.ANDROID, replaces_device_id=replaces)
    return _post(server, "/v1/devices/enroll", encode(request, media), media)


def test_a_device_revoked_as_stolen_closes_its_lineage(live_server: LiveServer) -> None:
    user_id = live_server.create_user()
    stolen, lost = live_server.new_device(user_id), live_server.new_device(user_id)
    closed = live_server.admin.post(f"/v1/admin/devices/{stolen.device_id}/revoke", json={"reason": "stolen"})
    assert closed.status_code == 200 and closed.json()["revoked"] is True
    # Whoever holds the phone, even with a fresh code of the user, cannot continue its identity.
    code = live_server.enrollment_code(user_id)
    _problem(_reenroll(live_server, code, stolen.device_id), 403, ErrorCode.REPLACES_DEVICE_INVALID)
    # The refusal spent nothing: the same code still enrolls a new device of its own lineage.
    fresh = _enroll(live_server, code)
    assert fresh.status_code == 201
    # A plain revoke keeps the way back of a restored store (spec §6.5).
    assert live_server.admin.post(f"/v1/admin/devices/{lost.device_id}/revoke").status_code == 200
    again = _reenroll(live_server, live_server.enrollment_code(user_id), lost.device_id)
    assert again.status_code == 201, again.text


@pytest.mark.parametrize("media", [MediaType.JSON, MediaType.MSGPACK])
def test_replacing_own_device_continues_its_lineage(live_server: LiveServer, media: MediaType) -> None:
    user_id = live_server.create_user()
    old = live_server.new_device(user_id)
    grant_share_aggregates_over_http(live_server, user_id)
    first = sync_ok(live_server, old, [sample_aggregate(1, day_of(0)), sample_aggregate(2, day_of(1))])
    assert first.last_seq == 2
    assert [r.status for r in first.results] == ["applied", "applied"]

    response = _reenroll(live_server, live_server.enrollment_code(user_id), old.device_id, media)
    assert response.status_code == 201, response.text
    new = decode_tokens(response.content, media)
    assert new.user_id == user_id and new.device_id != old.device_id
    devices = {d["device_id"]: d for d in _devices(live_server, user_id)}
    assert devices[old.device_id]["revoked"] is True
    assert devices[new.device_id]["revoked"] is False
    assert devices[new.device_id]["lineage_id"] == devices[old.device_id]["lineage_id"] == old.device_id
    # The replaced identity is dead: no sync, no refresh.
    _problem(
        post_sync(live_server, old.access_token, sync_body(old.device_id)), 403, ErrorCode.DEVICE_REVOKED
    )
    _problem(_refresh(live_server, old.device_id, old.refresh_token), 403, ErrorCode.DEVICE_REVOKED)

    # The restored store re-queues day 1 (delivered by the old identity after the backup) and day 2.
    reply = sync_ok(live_server, new, [sample_aggregate(1, day_of(1)), sample_aggregate(2, day_of(2))])
    assert reply.last_seq == 2
    assert [(r.seq, r.status, r.code) for r in reply.results] == [
        (1, "rejected", RejectionCode.DUPLICATE_DAY),
        (2, "applied", None),
    ]
    aggregates = live_server.user_view(user_id)["aggregates"]
    assert sorted((a["day"], a["device_id"], a["lineage_id"]) for a in aggregates) == [
        (day_of(0), old.device_id, old.device_id),
        (day_of(1), old.device_id, old.device_id),
        (day_of(2), new.device_id, old.device_id),
    ]
    assert live_server.device(new.device_id, user_id)["last_seq"] == 2


def test_replacing_again_after_a_lost_reply_revokes_the_unused_device(live_server: LiveServer) -> None:
    user_id = live_server.create_user()
    old = live_server.new_device(user_id)
    lost = _reenroll(live_server, live_server.enrollment_code(user_id), old.device_id)
    assert lost.status_code == 201
    retried = _reenroll(live_server, live_server.enrollment_code(user_id), old.device_id)
    assert retried.status_code == 201, retried.text
    new = decode_tokens(retried.content, MediaType.JSON)
    live = [d["device_id"] for d in _devices(live_server, user_id) if not d["revoked"]]
    assert live == [new.device_id]
    assert sync_ok(live_server, new).last_seq == 0


@pytest.mark.parametrize("whose", ["other_user", "unknown"])
def test_replacing_a_device_that_is_not_the_users_is_403(live_server: LiveServer, whose: str) -> None:
    user_id = live_server.create_user()
    mine = live_server.new_device(user_id)
    stranger = live_server.new_device()
    target = stranger.device_id if whose == "other_user" else "dev_no_such_device"
    code = live_server.enrollment_code(user_id)
    _problem(_reenroll(live_server, code, target), 403, ErrorCode.REPLACES_DEVICE_INVALID)
    # Nothing changed: no device created or revoked, and the code is still unspent.
    assert [d["device_id"] for d in _devices(live_server, user_id)] == [mine.device_id]
    assert sync_ok(live_server, stranger).last_seq == 0
    assert sync_ok(live_server, mine).last_seq == 0
    assert _enroll(live_server, code).status_code == 201


def test_replaces_device_id_out_of_range_is_400(live_server: LiveServer) -> None:
    code = live_server.enrollment_code(live_server.create_user())
    body = msgspec.json.encode(
        {"type": "EnrollRequest", "code": code, "platform": "ios", "replaces_device_id": "x" * 65}
    )
    _problem(_post(live_server, "/v1/devices/enroll", body), 400, ErrorCode.INVALID_BODY)
    assert _enroll(live_server, code).status_code == 201
