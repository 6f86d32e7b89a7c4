"""Codecs and the constraints of every wire type, in both media types."""

from __future__ import annotations

import copy
from typing import Any

import msgspec
import pytest

from sync.codec import (
    CodecError,
    MediaType,
    decode_change,
    decode_enroll,
    decode_envelope,
    decode_mutation,
    decode_problem,
    decode_refresh,
    decode_reply,
    decode_reply_envelope,
    decode_request,
    decode_tokens,
    encode,
    encode_mutation,
    media_type_of,
    peek_seq,
)
from sync.messages import AcceptOffer, Notice, OfferUpsert, SubmitAggregate, Withdrawn

MEDIA = list(MediaType)


def dump(tree: Any, media: MediaType) -> bytes:
    """Encode a plain tree, so tests can build bodies that no Struct would produce."""
    return msgspec.json.encode(tree) if media is MediaType.JSON else msgspec.msgpack.encode(tree)


# --- media types -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "media"),
    [
        ("application/msgpack", MediaType.MSGPACK),
        ("application/x-msgpack", MediaType.MSGPACK),
        ("application/vnd.msgpack", MediaType.MSGPACK),
        ("Application/MsgPack", MediaType.MSGPACK),
        ("application/msgpack; charset=binary", MediaType.MSGPACK),
        ("application/json", MediaType.JSON),
        ("application/json; charset=utf-8", MediaType.JSON),
        ("APPLICATION/JSON;charset=UTF-8", MediaType.JSON),
        ("  application/json  ", MediaType.JSON),
        (None, None),
        ("", None),
        ("text/plain", None),
        ("application/problem+json", None),
        ("application/jsonx", None),
        ("application/octet-stream", None),
        ("multipart/form-data; boundary=x", None),
        ("json", None),
    ],
)
def test_media_type_of(header: str | None, media: MediaType | None) -> None:
    assert media_type_of(header) is media


# --- valid bodies ------------------------------------------------------------------

AGGREGATE: dict[str, Any] = {
    "type": "SubmitAggregate",
    "seq": 1,
    "created_at": 1_717_243_200_000,
    "day": "2024-05-31",
    "tz_offset_min": 120,
    "window_bucket": 6,
    "levels": {"stress": 2, "valence": 1, "arousal": 3},
    "mechanism": {
        "name": "k_rr",
        "stress": {"k": 4, "epsilon": 0.5},
        "valence": {"k": 4, "epsilon": 0.25},
        "arousal": {"k": 4, "epsilon": 0.25},
    },
    "model_version": "affect-mlp-1.0.0",
}
T = 1_717_243_200_000
MUTATIONS: dict[str, dict[str, Any]] = {
    "SubmitAggregate": AGGREGATE,
    "AcceptOffer": {"type": "AcceptOffer", "seq": 2, "created_at": T, "offer_id": "of_1"},
    "DeclineOffer": {"type": "DeclineOffer", "seq": 3, "created_at": T, "offer_id": "of_1", "reason": None},
    "SetConsent": {"type": "SetConsent", "seq": 4, "created_at": T, "scope": "push", "granted": False},
    "RegisterPushToken": {
        "type": "RegisterPushToken",
        "seq": 5,
        "created_at": T,
        "token": "tok",
        "platform": "ios",
    },
    "AckNotice": {"type": "AckNotice", "seq": 6, "created_at": T, "notice_id": "nt_1"},
    "Withdrawn": {"type": "Withdrawn", "seq": 7, "created_at": T, "original_type": None},
}
OFFER: dict[str, Any] = {
    "offer_id": "of_1",
    "status": "offered",
    "current_limit_cents": 100_000,
    "new_limit_cents": 150_000,
    "rate_bps": 1899,
    "term_months": 0,
    "expires_at": T,
    "reason_codes": [],
    "updated_at": T,
}
CHANGES: dict[str, dict[str, Any]] = {
    "OfferUpsert": {"type": "OfferUpsert", "version": 1, "offer": OFFER},
    "OfferRemoved": {"type": "OfferRemoved", "version": 2, "offer_id": "of_1"},
    "ProfileUpdate": {
        "type": "ProfileUpdate",
        "version": 3,
        "profile": {"currency": "EUR", "limit_cents": 1, "used_cents": 0, "rate_bps": 0, "updated_at": T},
    },
    "Notice": {
        "type": "Notice",
        "version": 4,
        "notice_id": "nt_1",
        "kind": "k",
        "title": "t",
        "body": "b",
        "created_at": T,
    },
    "ConsentState": {"type": "ConsentState", "version": 5, "scopes": {"push": True}},
    "ModelRelease": {
        "type": "ModelRelease",
        "version": 6,
        "release": 3,
        "model_version": "m2",
        "feature_spec_version": "features-v1",
        "sha256": "0" * 64,
        "url": "/v1/models/3",
        "signature": "",
    },
    "Wipe": {"type": "Wipe", "version": 7, "reason": "user_erased"},
}
REQUEST: dict[str, Any] = {
    "type": "SyncRequest",
    "protocol": 1,
    "device_id": "d_1",
    "device_time": T,
    "push": [],
    "cursor": None,
    "pull_limit": 200,
}


def patched(base: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """A deep copy of ``base`` with ``path`` set to ``value`` (or removed when value is DELETE)."""
    tree = copy.deepcopy(base)
    node = tree
    for key in path[:-1]:
        node = node[key]
    if value is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return tree


DELETE = object()


@pytest.mark.parametrize("media", MEDIA)
@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_valid_mutations_decode_and_round_trip(name: str, media: MediaType) -> None:
    mutation = decode_mutation(dump(MUTATIONS[name], media), media)
    assert type(mutation).__name__ == name
    assert decode_mutation(encode_mutation(mutation, media), media) == mutation


@pytest.mark.parametrize("media", MEDIA)
@pytest.mark.parametrize("name", sorted(CHANGES))
def test_valid_changes_decode_and_round_trip(name: str, media: MediaType) -> None:
    change = decode_change(dump(CHANGES[name], media), media)
    assert change is not None
    assert type(change).__name__ == name
    assert decode_change(encode(change, media), media) == change


@pytest.mark.parametrize("media", MEDIA)
@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("day",), "2024-02-29"),  # leap day
        (("tz_offset_min",), -840),
        (("tz_offset_min",), 840),
        (("window_bucket",), 0),
        (("window_bucket",), 64),
        (("levels", "stress"), 0),
        (("levels", "arousal"), 3),  # k - 1
        (("mechanism", "valence", "k"), 2),  # valence is 1
        (("mechanism", "valence", "k"), 16),
        (("mechanism", "arousal", "epsilon"), 10.0),
        (("mechanism", "arousal", "epsilon"), 1e-9),
        (("seq",), 2**53),
        (("created_at",), 0),
        (("model_version",), "m" * 64),
        (("mechanism", "name"), DELETE),  # has a default
    ],
)
def test_boundary_values_are_accepted(path: tuple[str, ...], value: Any, media: MediaType) -> None:
    assert isinstance(decode_mutation(dump(patched(AGGREGATE, path, value), media), media), SubmitAggregate)


@pytest.mark.parametrize("media", MEDIA)
def test_highest_level_with_the_largest_k_is_accepted(media: MediaType) -> None:
    body = patched(patched(AGGREGATE, ("mechanism", "stress", "k"), 16), ("levels", "stress"), 15)
    assert isinstance(decode_mutation(dump(body, media), media), SubmitAggregate)


@pytest.mark.parametrize("media", MEDIA)
def test_optional_fields_default_when_missing(media: MediaType) -> None:
    decline = patched(MUTATIONS["DeclineOffer"], ("reason",), DELETE)
    withdrawn = patched(MUTATIONS["Withdrawn"], ("original_type",), DELETE)
    assert getattr(decode_mutation(dump(decline, media), media), "reason", "missing") is None
    assert decode_mutation(dump(withdrawn, media), media) == Withdrawn(seq=7, created_at=T)


# --- every constraint rejects bad values -------------------------------------------

BAD_MUTATIONS = [
    # (mutation, path, bad value)
    ("SubmitAggregate", ("seq",), 0),
    ("SubmitAggregate", ("seq",), -1),
    ("SubmitAggregate", ("seq",), 2**53 + 1),
    ("SubmitAggregate", ("seq",), "1"),
    ("SubmitAggregate", ("seq",), 1.5),
    ("SubmitAggregate", ("seq",), True),
    ("SubmitAggregate", ("seq",), None),
    ("SubmitAggregate", ("seq",), DELETE),
    ("SubmitAggregate", ("created_at",), -1),
    ("SubmitAggregate", ("created_at",), 2**53 + 1),
    ("SubmitAggregate", ("created_at",), DELETE),
    ("SubmitAggregate", ("type",), DELETE),
    ("SubmitAggregate", ("type",), "Nope"),
    ("SubmitAggregate", ("type",), "submitaggregate"),
    ("SubmitAggregate", ("type",), "Notice"),  # a change is not a mutation
    ("SubmitAggregate", ("type",), "SyncRequest"),
    ("SubmitAggregate", ("type",), 7),
    ("SubmitAggregate", ("day",), "2024-13-01"),
    ("SubmitAggregate", ("day",), "2024-00-10"),
    ("SubmitAggregate", ("day",), "2024-01-32"),
    ("SubmitAggregate", ("day",), "2024-02-30"),
    ("SubmitAggregate", ("day",), "2023-02-29"),
    ("SubmitAggregate", ("day",), "2024-04-31"),
    ("SubmitAggregate", ("day",), "24-01-01"),
    ("SubmitAggregate", ("day",), "2024-1-01"),
    ("SubmitAggregate", ("day",), "2024-01-01T00:00"),
    ("SubmitAggregate", ("day",), ""),
    ("SubmitAggregate", ("day",), 20240101),
    ("SubmitAggregate", ("tz_offset_min",), 841),
    ("SubmitAggregate", ("tz_offset_min",), -841),
    ("SubmitAggregate", ("window_bucket",), -1),
    ("SubmitAggregate", ("window_bucket",), 65),
    ("SubmitAggregate", ("levels", "stress"), 16),
    ("SubmitAggregate", ("levels", "valence"), -1),
    ("SubmitAggregate", ("levels", "arousal"), DELETE),
    ("SubmitAggregate", ("levels",), [1, 2, 3]),
    ("SubmitAggregate", ("mechanism", "stress", "k"), 1),
    ("SubmitAggregate", ("mechanism", "stress", "k"), 17),
    ("SubmitAggregate", ("mechanism", "valence", "epsilon"), 0),
    ("SubmitAggregate", ("mechanism", "valence", "epsilon"), 0.0),
    ("SubmitAggregate", ("mechanism", "valence", "epsilon"), -0.5),
    ("SubmitAggregate", ("mechanism", "valence", "epsilon"), 10.5),
    ("SubmitAggregate", ("mechanism", "valence", "epsilon"), "0.5"),
    ("SubmitAggregate", ("mechanism", "arousal"), DELETE),
    ("SubmitAggregate", ("levels", "stress"), 4),  # k is 4: levels are 0..3
    ("SubmitAggregate", ("levels", "arousal"), 15),
    ("SubmitAggregate", ("mechanism", "arousal", "k"), 3),  # arousal is 3: needs k >= 4
    ("SubmitAggregate", ("model_version",), ""),
    ("SubmitAggregate", ("model_version",), "m" * 65),
    ("AcceptOffer", ("offer_id",), ""),
    ("AcceptOffer", ("offer_id",), "o" * 65),
    ("AcceptOffer", ("offer_id",), DELETE),
    ("DeclineOffer", ("reason",), "r" * 65),
    ("DeclineOffer", ("offer_id",), None),
    ("SetConsent", ("scope",), "marketing"),
    ("SetConsent", ("scope",), "PUSH"),
    ("SetConsent", ("granted",), "yes"),
    ("SetConsent", ("granted",), 1),
    ("RegisterPushToken", ("token",), ""),
    ("RegisterPushToken", ("token",), "t" * 4097),
    ("RegisterPushToken", ("platform",), "windows"),
    ("AckNotice", ("notice_id",), ""),
    ("AckNotice", ("notice_id",), 5),
    ("Withdrawn", ("original_type",), "x" * 65),
]


@pytest.mark.parametrize("media", MEDIA)
@pytest.mark.parametrize(("name", "path", "value"), BAD_MUTATIONS)
def test_bad_mutation_is_refused(name: str, path: tuple[str, ...], value: Any, media: MediaType) -> None:
    good = dump(MUTATIONS[name], media)
    decode_mutation(good, media)  # the unpatched body is valid: the patch alone makes it bad
    with pytest.raises(CodecError):
        decode_mutation(dump(patched(MUTATIONS[name], path, value), media), media)


def test_impossible_day_is_refused_when_built_in_code_too() -> None:
    good = decode_mutation(dump(AGGREGATE, MediaType.JSON), MediaType.JSON)
    assert isinstance(good, SubmitAggregate)
    fields = {f: getattr(good, f) for f in good.__struct_fields__}
    with pytest.raises(ValueError, match="calendar date"):
        SubmitAggregate(**{**fields, "day": "2024-02-30"})


BAD_CHANGES = [
    ("OfferUpsert", ("version",), 0),
    ("OfferUpsert", ("version",), -3),
    ("OfferUpsert", ("offer", "status"), "pending"),
    ("OfferUpsert", ("offer", "new_limit_cents"), -1),
    ("OfferUpsert", ("offer", "new_limit_cents"), 10**12 + 1),
    ("OfferUpsert", ("offer", "new_limit_cents"), 1.5),
    ("OfferUpsert", ("offer", "rate_bps"), 100_001),
    ("OfferUpsert", ("offer", "term_months"), 601),
    ("OfferUpsert", ("offer", "offer_id"), ""),
    ("OfferRemoved", ("offer_id",), DELETE),
    ("ProfileUpdate", ("profile", "currency"), "EURO"),
    ("ProfileUpdate", ("profile", "currency"), "EU"),
    ("ProfileUpdate", ("profile", "used_cents"), -1),
    ("Notice", ("title",), "t" * 201),
    ("Notice", ("body",), "b" * 2001),
    ("Notice", ("kind",), "k" * 65),
    ("ConsentState", ("scopes",), {"marketing": True}),
    ("ConsentState", ("scopes",), {"push": "yes"}),
    ("ModelRelease", ("sha256",), "A" * 64),
    ("ModelRelease", ("sha256",), "0" * 63),
    ("ModelRelease", ("url",), "u" * 2049),
    ("ModelRelease", ("release",), 0),
    ("ModelRelease", ("model_version",), "m 2"),
    ("ModelRelease", ("feature_spec_version",), ""),
    ("ModelRelease", ("signature",), "s" * 129),
    ("Wipe", ("reason",), "r" * 65),
    ("Wipe", ("reason",), DELETE),
]


@pytest.mark.parametrize("media", MEDIA)
@pytest.mark.parametrize(("name", "path", "value"), BAD_CHANGES)
def test_bad_change_of_a_known_type_is_refused(
    name: str, path: tuple[str, ...], value: Any, media: MediaType
) -> None:
    with pytest.raises(CodecError):
        decode_change(dump(patched(CHANGES[name], path, value), media), media)


# --- changes: unknown types are skipped --------------------------------------------


@pytest.mark.parametrize("media", MEDIA)
@pytest.mark.parametrize("tag", ["FutureChange", "SubmitAggregate", "SyncReply", "notice", ""])
def test_change_of_unknown_type_is_skipped(tag: str, media: MediaType) -> None:
    assert decode_change(dump({"type": tag, "version": 9, "whatever": [1, 2]}, media), media) is None


@pytest.mark.parametrize("media", MEDIA)
@pytest.mark.parametrize("body", [{"version": 9}, {"type": 5, "version": 9}, [1, 2], "Notice"])
def test_change_without_a_string_tag_is_an_error(body: Any, media: MediaType) -> None:
    with pytest.raises(CodecError):
        decode_change(dump(body, media), media)


@pytest.mark.parametrize("media", MEDIA)
def test_reply_envelope_lets_a_client_skip_unknown_changes(media: MediaType) -> None:
    reply = {
        "type": "SyncReply",
        "protocol": 1,
        "last_seq": 0,
        "changes": [CHANGES["Notice"], {"type": "FutureChange", "version": 5}, CHANGES["Wipe"]],
        "server_time": T,
    }
    data = dump(reply, media)
    with pytest.raises(CodecError):
        decode_reply(data, media)  # the whole-reply decoder knows only this build's changes
    envelope = decode_reply_envelope(data, media)
    decoded = [decode_change(raw, media) for raw in envelope.changes]
    assert [type(c).__name__ if c else None for c in decoded] == ["Notice", None, "Wipe"]
    assert isinstance(decoded[0], Notice)
    assert envelope.cursor is None and envelope.has_more is False and envelope.next_sync_after_s == 900


@pytest.mark.parametrize("media", MEDIA)
def test_unknown_result_status_and_code_are_kept(media: MediaType) -> None:
    reply = {
        "type": "SyncReply",
        "protocol": 1,
        "last_seq": 2,
        "results": [{"seq": 1, "status": "parked"}, {"seq": 2, "status": "rejected", "code": "new_reason"}],
        "server_time": T,
    }
    decoded = decode_reply(dump(reply, media), media)
    assert [(r.status, r.code) for r in decoded.results] == [("parked", None), ("rejected", "new_reason")]


# --- peek_seq ----------------------------------------------------------------------


@pytest.mark.parametrize("media", MEDIA)
@pytest.mark.parametrize(
    ("body", "seq"),
    [
        ({"seq": 1}, 1),
        ({"seq": 2**53}, 2**53),
        ({"type": "Nope", "seq": 12, "garbage": {"x": [1]}}, 12),
        (patched(AGGREGATE, ("day",), "2024-13-01"), 1),
        (patched(AGGREGATE, ("levels",), None), 1),
        ({"seq": 0}, None),
        ({"seq": -4}, None),
        ({"seq": 2**53 + 1}, None),
        ({"seq": "3"}, None),
        ({"seq": 3.0}, None),
        ({"seq": None}, None),
        ({"seq": True}, None),
        ({"type": "AcceptOffer"}, None),
        ({}, None),
        ([1, 2, 3], None),
        (17, None),
        ("seq", None),
        (None, None),
    ],
)
def test_peek_seq(body: Any, seq: int | None, media: MediaType) -> None:
    assert peek_seq(dump(body, media), media) == seq


@pytest.mark.parametrize("media", MEDIA)
@pytest.mark.parametrize("data", [b"", b"\xc1", b"{", b"\xff\xfe", b'{"seq": 1', b"\x81\xa3seq"])
def test_peek_seq_on_broken_bytes(data: bytes, media: MediaType) -> None:
    assert peek_seq(data, media) is None


@pytest.mark.parametrize("media", MEDIA)
def test_peek_seq_accepts_raw(media: MediaType) -> None:
    envelope = decode_envelope(dump({**REQUEST, "push": [{"seq": 5, "type": "Broken"}]}, media), media)
    assert peek_seq(envelope.push[0], media) == 5
    with pytest.raises(CodecError):
        decode_mutation(envelope.push[0], media)


# --- envelopes ---------------------------------------------------------------------


@pytest.mark.parametrize("media", MEDIA)
def test_envelope_keeps_a_bad_mutation_for_later(media: MediaType) -> None:
    body = {**REQUEST, "push": [MUTATIONS["AcceptOffer"], patched(AGGREGATE, ("seq",), 3) | {"day": "x"}]}
    data = dump(body, media)
    with pytest.raises(CodecError):
        decode_request(data, media)  # the whole request fails ...
    envelope = decode_envelope(data, media)  # ... its envelope does not
    assert isinstance(decode_mutation(envelope.push[0], media), AcceptOffer)
    assert peek_seq(envelope.push[1], media) == 3
    with pytest.raises(CodecError):
        decode_mutation(envelope.push[1], media)


@pytest.mark.parametrize("media", MEDIA)
def test_request_defaults(media: MediaType) -> None:
    body = {k: v for k, v in REQUEST.items() if k in ("type", "protocol", "device_id", "device_time")}
    request = decode_request(dump(body, media), media)
    assert (request.push, request.cursor, request.pull_limit) == ([], None, 200)
    envelope = decode_envelope(dump(body, media), media)
    assert (envelope.push, envelope.cursor, envelope.pull_limit) == ([], None, 200)


BAD_ENVELOPES = [
    (("type",), "SyncReply"),
    (("type",), None),
    (("protocol",), DELETE),
    (("protocol",), "1"),
    (("device_id",), ""),
    (("device_id",), "d" * 65),
    (("device_time",), -1),
    (("device_time",), DELETE),
    (("push",), {"seq": 1}),
    (("push",), None),
    (("cursor",), 5),
    (("pull_limit",), -1),
    (("pull_limit",), 1.5),
]


@pytest.mark.parametrize("media", MEDIA)
@pytest.mark.parametrize(("path", "value"), BAD_ENVELOPES)
def test_bad_envelope_is_refused(path: tuple[str, ...], value: Any, media: MediaType) -> None:
    data = dump(patched(REQUEST, path, value), media)
    with pytest.raises(CodecError):
        decode_envelope(data, media)
    with pytest.raises(CodecError):
        decode_request(data, media)


@pytest.mark.parametrize("media", MEDIA)
@pytest.mark.parametrize("data", [b"", b"not a body", b"\xc1\xc1", b"[]", b"null", b'{"type":"SyncRequest"'])
def test_undecodable_envelope_is_refused(data: bytes, media: MediaType) -> None:
    with pytest.raises(CodecError):
        decode_envelope(data, media)


@pytest.mark.parametrize("media", MEDIA)
def test_a_message_decoded_on_its_own_tolerates_a_missing_tag(media: MediaType) -> None:
    # Documented in spec §2.2: only union members (mutations, changes) need the tag to decode.
    body = patched(REQUEST, ("type",), DELETE)
    assert decode_envelope(dump(body, media), media).device_id == "d_1"
    assert decode_request(dump(body, media), media).device_id == "d_1"
    with pytest.raises(CodecError):
        decode_mutation(dump(patched(MUTATIONS["AckNotice"], ("type",), DELETE), media), media)


@pytest.mark.parametrize("media", MEDIA)
def test_unsupported_protocol_still_decodes(media: MediaType) -> None:
    # The server must read the protocol to answer unsupported_protocol with the supported list.
    assert decode_envelope(dump(patched(REQUEST, ("protocol",), 99), media), media).protocol == 99


BAD_REPLIES = [
    (("last_seq",), -1),
    (("server_time",), DELETE),
    (("next_sync_after_s",), -1),
    (("results",), [{"seq": 0, "status": "applied"}]),
    (("results",), [{"status": "applied"}]),
    (("results",), [{"seq": 1}]),
]
REPLY: dict[str, Any] = {"type": "SyncReply", "protocol": 1, "last_seq": 0, "server_time": T}


@pytest.mark.parametrize("media", MEDIA)
@pytest.mark.parametrize(("path", "value"), BAD_REPLIES)
def test_bad_reply_is_refused(path: tuple[str, ...], value: Any, media: MediaType) -> None:
    data = dump(patched(REPLY, path, value), media)
    with pytest.raises(CodecError):
        decode_reply(data, media)
    with pytest.raises(CodecError):
        decode_reply_envelope(data, media)


# --- auth messages and problems ----------------------------------------------------

ENROLL = {"type": "EnrollRequest", "code": "C0DE", "platform": "android"}
REFRESH = {"type": "RefreshRequest", "device_id": "d_1", "refresh_token": "rt"}
TOKENS = {
    "type": "TokenPair",
    "device_id": "d_1",
    "user_id": "u_1",
    "access_token": "a",
    "access_expires_at": T,
    "refresh_token": "r",
    "refresh_expires_at": T,
}


@pytest.mark.parametrize("media", MEDIA)
def test_auth_messages_decode(media: MediaType) -> None:
    assert decode_enroll(dump(ENROLL, media), media).app_version == ""
    assert decode_refresh(dump(REFRESH, media), media).refresh_token == "rt"
    tokens = decode_tokens(dump(TOKENS, media), media)
    assert decode_tokens(encode(tokens, media), media) == tokens


@pytest.mark.parametrize("media", MEDIA)
@pytest.mark.parametrize(
    ("body", "path", "value"),
    [
        (ENROLL, ("code",), ""),
        (ENROLL, ("code",), "c" * 129),
        (ENROLL, ("platform",), "web"),
        (ENROLL, ("app_version",), "v" * 65),
        (ENROLL, ("type",), "RefreshRequest"),
        (REFRESH, ("refresh_token",), ""),
        (REFRESH, ("refresh_token",), "r" * 513),
        (REFRESH, ("device_id",), DELETE),
        (TOKENS, ("access_expires_at",), -1),
        (TOKENS, ("user_id",), ""),
    ],
)
def test_bad_auth_message_is_refused(
    body: dict[str, Any], path: tuple[str, ...], value: Any, media: MediaType
) -> None:
    decoder = {"EnrollRequest": decode_enroll, "RefreshRequest": decode_refresh, "TokenPair": decode_tokens}[
        body["type"]
    ]
    with pytest.raises(CodecError):
        decoder(dump(patched(body, path, value), media), media)


def test_problem_decodes_and_omits_defaults() -> None:
    problem = decode_problem(b'{"title":"t","status":429,"code":"rate_limited","retry_after_s":3,"new":1}')
    assert (problem.type, problem.retry_after_s, problem.detail) == ("about:blank", 3, None)
    assert (
        encode(problem, MediaType.JSON)
        == b'{"title":"t","status":429,"code":"rate_limited","retry_after_s":3}'
    )


@pytest.mark.parametrize("data", [b"", b"{}", b'{"title":"t","status":"400","code":"x"}', b'{"status":400}'])
def test_bad_problem_is_refused(data: bytes) -> None:
    with pytest.raises(CodecError):
        decode_problem(data)


def test_codec_error_is_a_value_error() -> None:
    assert issubclass(CodecError, ValueError)


@pytest.mark.parametrize("media", MEDIA)
def test_encode_of_a_change_carries_its_tag_first(media: MediaType) -> None:
    change = decode_change(dump(CHANGES["OfferUpsert"], media), media)
    assert isinstance(change, OfferUpsert)
    tree = msgspec.json.decode(encode(change, MediaType.JSON))
    assert next(iter(tree)) == "type"
