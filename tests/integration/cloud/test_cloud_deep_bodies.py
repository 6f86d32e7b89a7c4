"""Bodies nested deeper than ``MAX_NESTING_DEPTH`` are ``400 invalid_body`` on every endpoint, over a
real server, and change nothing; a body exactly at the limit is served as usual (spec §8).

Before the limit, a value nested ~1,000 levels deep anywhere in a body answered 500 (the decoder's
``RecursionError``), with no credentials needed.
"""

from __future__ import annotations

from typing import Any

import httpx
import msgspec
import pytest

from sync.codec import MediaType, decode_reply
from sync.codes import ErrorCode
from sync.limits import MAX_NESTING_DEPTH
from sync.messages import TokenPair
from tests.support.live_server import LiveServer, day_of, post_sync, sample_aggregate, sync_body
from tests.unit.sync.test_depth import nested_json, nested_msgpack

MEDIA = [MediaType.MSGPACK, MediaType.JSON]
HOSTILE = 1000
"""Deep enough to exhaust the decoder's recursion without the limit."""
_MARK = "@@deep@@"


def _dump(value: Any, media: MediaType) -> bytes:
    return msgspec.msgpack.encode(value) if media is MediaType.MSGPACK else msgspec.json.encode(value)


def with_deep(value: Any, depth: int, media: MediaType) -> bytes:
    """``value`` encoded with its one ``_MARK`` string replaced by a value nesting ``depth`` levels."""
    data = _dump(value, media)
    mark = _dump(_MARK, media)
    deep = nested_msgpack(depth) if media is MediaType.MSGPACK else nested_json(depth)
    assert data.count(mark) == 1
    return data.replace(mark, deep)


def _problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code


def _state(server: LiveServer, tokens: TokenPair) -> tuple[Any, ...]:
    view = server.user_view(tokens.user_id)
    return view["devices"], view["aggregates"], view["version"]


def _request(tokens: TokenPair, push: list[Any], **extra: Any) -> dict[str, Any]:
    return {
        "type": "SyncRequest",
        "protocol": 1,
        "device_id": tokens.device_id,
        "device_time": 1_700_000_000_000,
        "push": push,
        "cursor": None,
        "pull_limit": 10,
        **extra,
    }


def _aggregate(seq: int, **extra: Any) -> dict[str, Any]:
    built: dict[str, Any] = msgspec.to_builtins(sample_aggregate(seq, day_of(seq)))
    return {**built, **extra}


# Where the deep value sits, and how many levels the body has above it (envelope map = 1).
SYNC_PLACES: dict[str, tuple[Any, int]] = {
    "envelope_unknown_field": (lambda t: _request(t, [], zz=_MARK), 1),
    "push_item": (lambda t: _request(t, [_MARK]), 2),
    "mutation_field": (lambda t: _request(t, [_aggregate(1, levels=_MARK)]), 3),
    "mutation_unknown_field": (lambda t: _request(t, [_aggregate(1, zz=_MARK)]), 3),
    "cursor": (lambda t: _request(t, [], cursor=_MARK), 1),
}


@pytest.mark.parametrize("media", MEDIA)
@pytest.mark.parametrize("place", sorted(SYNC_PLACES))
@pytest.mark.parametrize("depth", ["hostile", "one_over"])
def test_deep_sync_body_is_400_and_changes_nothing(
    live_server: LiveServer, media: MediaType, place: str, depth: str
) -> None:
    tokens = live_server.new_device()
    before = _state(live_server, tokens)
    build, above = SYNC_PLACES[place]
    levels = HOSTILE if depth == "hostile" else MAX_NESTING_DEPTH + 1 - above
    body = with_deep(build(tokens), levels, media)
    _problem(post_sync(live_server, tokens.access_token, body, media), 400, ErrorCode.INVALID_BODY)
    assert _state(live_server, tokens) == before


@pytest.mark.parametrize("media", MEDIA)
def test_deep_sync_body_needs_no_credentials_to_be_refused(live_server: LiveServer, media: MediaType) -> None:
    # Authentication comes first: without a token it is 401, never 500.
    tokens = live_server.new_device()
    body = with_deep(_request(tokens, [_MARK]), HOSTILE, media)
    _problem(post_sync(live_server, None, body, media), 401, ErrorCode.TOKEN_MISSING)


@pytest.mark.parametrize("media", MEDIA)
def test_a_mutation_exactly_at_the_limit_is_processed(live_server: LiveServer, media: MediaType) -> None:
    tokens = live_server.new_device()
    # Envelope, push and mutation are three levels: the unknown field may nest the rest.
    body = with_deep(_request(tokens, [_aggregate(1, zz=_MARK)]), MAX_NESTING_DEPTH - 3, media)
    response = post_sync(live_server, tokens.access_token, body, media)
    assert response.status_code == 200, response.text
    reply = (
        msgspec.json.decode(response.content)
        if media is MediaType.JSON
        else msgspec.msgpack.decode(response.content)
    )
    assert reply["last_seq"] == 1
    assert [r["seq"] for r in reply["results"]] == [1]


@pytest.mark.parametrize("media", MEDIA)
@pytest.mark.parametrize("depth", [HOSTILE, MAX_NESTING_DEPTH])
def test_deep_enroll_body_is_400_and_creates_no_device(
    live_server: LiveServer, media: MediaType, depth: int
) -> None:
    user_id = live_server.create_user()
    code = live_server.enrollment_code(user_id)
    body = with_deep({"type": "EnrollRequest", "code": code, "platform": "ios", "zz": _MARK}, depth, media)
    response = httpx.post(
        f"{live_server.base_url}/v1/devices/enroll", content=body, headers={"Content-Type": media.value}
    )
    _problem(response, 400, ErrorCode.INVALID_BODY)
    assert live_server.user_view(user_id)["devices"] == []
    # The code was not spent.
    assert live_server.enroll(code).user_id == user_id


@pytest.mark.parametrize("media", MEDIA)
@pytest.mark.parametrize("depth", [HOSTILE, MAX_NESTING_DEPTH])
def test_deep_refresh_body_is_400_and_rotates_nothing(
    live_server: LiveServer, media: MediaType, depth: int
) -> None:
    tokens = live_server.new_device()
    request = {"type": "RefreshRequest", "device_id": tokens.device_id, "refresh_token": _MARK}
    response = httpx.post(
        f"{live_server.base_url}/v1/devices/token",
        content=with_deep(request, depth, media),
        headers={"Content-Type": media.value},
    )
    _problem(response, 400, ErrorCode.INVALID_BODY)
    # The refresh token is still live: it rotates now.
    ok = httpx.post(
        f"{live_server.base_url}/v1/devices/token",
        content=_dump({"device_id": tokens.device_id, "refresh_token": tokens.refresh_token}, MediaType.JSON),
        headers={"Content-Type": "application/json"},
    )
    assert ok.status_code == 200, ok.text


def test_sync_still_works_after_hostile_bodies(live_server: LiveServer) -> None:
    tokens = live_server.new_device()
    for media in MEDIA:
        body = with_deep(_request(tokens, [_MARK]), HOSTILE, media)
        _problem(post_sync(live_server, tokens.access_token, body, media), 400, ErrorCode.INVALID_BODY)
    ok = post_sync(live_server, tokens.access_token, sync_body(tokens.device_id, [sample_aggregate(1)]))
    assert ok.status_code == 200, ok.text
    # Processed (refused: this user never granted sharing), so the device's outbox moves on.
    reply = decode_reply(ok.content, MediaType.MSGPACK)
    assert reply.last_seq == 1 and [(r.seq, r.code) for r in reply.results] == [(1, "consent_missing")]
