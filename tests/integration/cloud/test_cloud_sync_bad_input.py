"""Bad input to ``/v1/sync``: each case gets its stable error (or a ``rejected`` result) and changes
nothing it must not change, checked through the admin API (``last_seq``, stored aggregates)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from sync.codec import MediaType
from sync.codes import ErrorCode, RejectionCode
from sync.limits import MAX_BODY_BYTES, MAX_MUTATIONS, SUPPORTED_PROTOCOLS
from sync.messages import TokenPair
from tests.support.consent import grant_share_aggregates_over_http
from tests.support.live_server import LiveServer, day_of, post_sync, sample_aggregate, sync_body, sync_ok

pytestmark = pytest.mark.engines("sqlite", "postgres")

MEDIA = [MediaType.MSGPACK, MediaType.JSON]


def _dump(value: Any, media: MediaType) -> bytes:
    if media is MediaType.MSGPACK:
        return msgspec.msgpack.encode(value)
    return msgspec.json.encode(value)


def _state(server: LiveServer, tokens: TokenPair) -> tuple[dict[str, Any], list[dict[str, Any]], int]:
    view = server.user_view(tokens.user_id)
    device = next(d for d in view["devices"] if d["device_id"] == tokens.device_id)
    return device, view["aggregates"], view["version"]


@pytest.fixture
def device(live_server: LiveServer) -> TokenPair:
    """A device that has pushed one aggregate (``last_seq`` 1); its user granted sharing on another
    device of theirs."""
    tokens = live_server.new_device()
    grant_share_aggregates_over_http(live_server, tokens.user_id)
    reply = sync_ok(live_server, tokens, [sample_aggregate(1, day_of(0))])
    assert [r.status for r in reply.results] == ["applied"]
    return tokens


def _envelope(tokens: TokenPair, push: list[Any] | None = None, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "SyncRequest",
        "protocol": 1,
        "device_id": tokens.device_id,
        "device_time": 1_700_000_000_000,
        "push": push or [],
        "cursor": None,
        "pull_limit": 100,
    }
    body.update(overrides)
    return body


def _mutation(seq: int, day: str = "2024-02-01") -> dict[str, Any]:
    built: dict[str, Any] = msgspec.to_builtins(sample_aggregate(seq, day))
    return built


def _assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = response.json()
    assert problem["code"] == code
    assert problem["status"] == status
    assert problem["request_id"] == response.headers["x-request-id"]
    return problem


def _without(mapping: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k != key}


def _broken_envelopes(tokens: TokenPair) -> dict[str, Any]:
    missing = _envelope(tokens)
    del missing["device_id"]
    return {
        "unknown_tag": _envelope(tokens, type="NotARequest"),
        "missing_field": missing,
        "wrong_type": _envelope(tokens, device_time="yesterday"),
        "push_not_a_list": _envelope(tokens, push={"seq": 2}),
        "mutation_without_seq": _envelope(
            tokens, push=[{k: v for k, v in _mutation(2).items() if k != "seq"}]
        ),
        "mutation_seq_zero": _envelope(tokens, push=[_mutation(0)]),
        "mutation_seq_not_int": _envelope(tokens, push=[{**_mutation(2), "seq": "2"}]),
        "negative_pull_limit": _envelope(tokens, push=[_mutation(2)], pull_limit=-1),
    }


@pytest.mark.parametrize("media", MEDIA)
@pytest.mark.parametrize(
    "case",
    [
        "unknown_tag",
        "missing_field",
        "wrong_type",
        "push_not_a_list",
        "mutation_without_seq",
        "mutation_seq_zero",
        "mutation_seq_not_int",
        "negative_pull_limit",
    ],
)
def test_broken_envelope_is_400_and_changes_nothing(
    live_server: LiveServer, device: TokenPair, media: MediaType, case: str
) -> None:
    before = _state(live_server, device)
    body = _dump(_broken_envelopes(device)[case], media)
    response = post_sync(live_server, device.access_token, body, media)
    _assert_problem(response, 400, ErrorCode.INVALID_BODY)
    assert _state(live_server, device) == before


@pytest.mark.parametrize(
    ("media", "body"),
    [
        (MediaType.MSGPACK, b"\xc1\xc1\xc1 not msgpack"),
        (MediaType.MSGPACK, b""),
        (MediaType.JSON, b"{not json"),
        (MediaType.JSON, b"[]"),
        (MediaType.JSON, msgspec.msgpack.encode({"type": "SyncRequest"})),
    ],
)
def test_undecodable_body_is_400_and_changes_nothing(
    live_server: LiveServer, device: TokenPair, media: MediaType, body: bytes
) -> None:
    before = _state(live_server, device)
    _assert_problem(post_sync(live_server, device.access_token, body, media), 400, ErrorCode.INVALID_BODY)
    assert _state(live_server, device) == before


def _bad_mutations() -> dict[str, dict[str, Any]]:
    missing = _mutation(2)
    del missing["levels"]
    return {
        "unknown_tag": {**_mutation(2), "type": "LaunchRockets"},
        "missing_field": missing,
        "wrong_type": {**_mutation(2), "window_bucket": "three"},
        "out_of_range": {**_mutation(2), "tz_offset_min": 5000},
        "impossible_day": {**_mutation(2), "day": "2024-02-30"},
    }


@pytest.mark.parametrize("media", MEDIA)
@pytest.mark.parametrize(
    "case", ["unknown_tag", "missing_field", "wrong_type", "out_of_range", "impossible_day"]
)
def test_bad_mutation_is_rejected_alone_and_advances_last_seq(
    live_server: LiveServer, device: TokenPair, media: MediaType, case: str
) -> None:
    device_before, aggregates_before, _ = _state(live_server, device)
    good = _mutation(3, "2024-03-01")
    body = _dump(_envelope(device, push=[_bad_mutations()[case], good]), media)
    response = post_sync(live_server, device.access_token, body, media)
    assert response.status_code == 200, response.text
    reply = (
        msgspec.json.decode(response.content)
        if media is MediaType.JSON
        else msgspec.msgpack.decode(response.content)
    )
    assert reply["last_seq"] == 3
    assert reply["results"][0]["seq"] == 2
    assert reply["results"][0]["status"] == "rejected"
    assert reply["results"][0]["code"] == RejectionCode.INVALID_MUTATION
    assert reply["results"][1] == {"seq": 3, "status": "applied"}
    device_after, aggregates_after, _ = _state(live_server, device)
    assert device_before["last_seq"] == 1 and device_after["last_seq"] == 3
    assert [a["seq"] for a in aggregates_after] == [a["seq"] for a in aggregates_before] + [3]


@pytest.mark.parametrize("media", MEDIA)
def test_unknown_protocol_is_400_with_supported_versions(
    live_server: LiveServer, device: TokenPair, media: MediaType
) -> None:
    before = _state(live_server, device)
    body = sync_body(device.device_id, [sample_aggregate(2, day_of(1))], media, protocol=99)
    problem = _assert_problem(
        post_sync(live_server, device.access_token, body, media), 400, "unsupported_protocol"
    )
    assert problem["supported_protocols"] == list(SUPPORTED_PROTOCOLS)
    assert _state(live_server, device) == before


def test_too_many_mutations_is_413(live_server: LiveServer, device: TokenPair) -> None:
    before = _state(live_server, device)
    mutations = [sample_aggregate(i + 2, day_of(i + 1)) for i in range(MAX_MUTATIONS + 1)]
    body = sync_body(device.device_id, mutations)
    assert len(body) < MAX_BODY_BYTES
    _assert_problem(post_sync(live_server, device.access_token, body), 413, ErrorCode.TOO_MANY_MUTATIONS)
    assert _state(live_server, device) == before


def test_exactly_max_mutations_is_accepted(live_server: LiveServer) -> None:
    tokens = live_server.new_device()
    grant_share_aggregates_over_http(live_server, tokens.user_id)
    reply = sync_ok(live_server, tokens, [sample_aggregate(i + 1, day_of(i)) for i in range(MAX_MUTATIONS)])
    assert reply.last_seq == MAX_MUTATIONS
    assert {r.status for r in reply.results} == {"applied"}


def test_body_over_one_mib_is_413(live_server: LiveServer, device: TokenPair) -> None:
    before = _state(live_server, device)
    # A syntactically valid request padded past the limit with a long (ignored) field.
    envelope = _envelope(device, push=[_mutation(2)], padding="x" * MAX_BODY_BYTES)
    body = _dump(envelope, MediaType.MSGPACK)
    assert len(body) > MAX_BODY_BYTES
    _assert_problem(post_sync(live_server, device.access_token, body), 413, ErrorCode.BODY_TOO_LARGE)
    assert _state(live_server, device) == before


def test_another_devices_id_is_403(live_server: LiveServer, device: TokenPair) -> None:
    other = live_server.new_device(device.user_id)
    before = _state(live_server, device), _state(live_server, other)
    body = sync_body(other.device_id, [sample_aggregate(1, day_of(5))])
    _assert_problem(post_sync(live_server, device.access_token, body), 403, ErrorCode.DEVICE_MISMATCH)
    assert (_state(live_server, device), _state(live_server, other)) == before


def test_revoked_device_is_403(live_server: LiveServer, device: TokenPair) -> None:
    response = live_server.admin.post(f"/v1/admin/devices/{device.device_id}/revoke")
    assert response.status_code == 200 and response.json()["revoked"] is True
    before = _state(live_server, device)
    body = sync_body(device.device_id, [sample_aggregate(2, day_of(1))])
    _assert_problem(post_sync(live_server, device.access_token, body), 403, ErrorCode.DEVICE_REVOKED)
    assert _state(live_server, device) == before


@pytest.mark.parametrize("cursor", ["garbage", "v1.-1", "v1.01", "v1.999"])
def test_invalid_cursor_is_400(live_server: LiveServer, device: TokenPair, cursor: str) -> None:
    before = _state(live_server, device)
    body = sync_body(device.device_id, [sample_aggregate(2, day_of(1))], cursor=cursor)
    _assert_problem(post_sync(live_server, device.access_token, body), 400, ErrorCode.INVALID_CURSOR)
    assert _state(live_server, device) == before


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", ""])
def test_unsupported_media_type_is_415(live_server: LiveServer, device: TokenPair, content_type: str) -> None:
    before = _state(live_server, device)
    body = sync_body(device.device_id, media=MediaType.JSON)
    response = post_sync(live_server, device.access_token, body, content_type)
    _assert_problem(response, 415, ErrorCode.UNSUPPORTED_MEDIA_TYPE)
    assert _state(live_server, device) == before
