"""Mutation digests: equal for the same mutation however it was encoded, different otherwise."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from cloud.domain.sync.digest import invalid_mutation_digest, mutation_digest
from sync.codec import MediaType, decode_mutation, encode_mutation
from sync.messages import ConsentScope as Scope
from sync.messages import FieldMechanism, Levels, Mechanism, SetConsent, SubmitAggregate, Withdrawn

AGGREGATE = SubmitAggregate(
    seq=3,
    created_at=1_700_000_000_000,
    day="2024-01-01",
    tz_offset_min=60,
    window_bucket=2,
    levels=Levels(stress=1, valence=2, arousal=3),
    mechanism=Mechanism(
        stress=FieldMechanism(k=4, epsilon=1.0),
        valence=FieldMechanism(k=4, epsilon=1.0),
        arousal=FieldMechanism(k=4, epsilon=0.5),
    ),
    model_version="m1",
)


def _reordered(value: Any) -> Any:
    """The same tree with every map's keys in reverse order."""
    if isinstance(value, dict):
        return {k: _reordered(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reordered(v) for v in value]
    return value


def test_json_and_msgpack_of_one_mutation_have_one_digest() -> None:
    via_json = decode_mutation(encode_mutation(AGGREGATE, MediaType.JSON), MediaType.JSON)
    via_msgpack = decode_mutation(encode_mutation(AGGREGATE, MediaType.MSGPACK), MediaType.MSGPACK)
    assert mutation_digest(via_json) == mutation_digest(via_msgpack) == mutation_digest(AGGREGATE)


@pytest.mark.parametrize("media", list(MediaType))
def test_field_order_whitespace_and_unknown_fields_do_not_matter(media: MediaType) -> None:
    tree = msgspec.to_builtins(AGGREGATE)
    tree = _reordered({**tree, "zz_added_later": [1, 2]})
    data = msgspec.json.encode(tree) if media is MediaType.JSON else msgspec.msgpack.encode(tree)
    if media is MediaType.JSON:
        data = data.replace(b",", b", ")
    assert mutation_digest(decode_mutation(data, media)) == mutation_digest(AGGREGATE)


def test_json_integer_for_a_float_field_is_the_same_mutation() -> None:
    tree = msgspec.to_builtins(AGGREGATE)
    data = msgspec.json.encode(tree).replace(b'"epsilon":1.0', b'"epsilon":1')
    assert b'"epsilon":1}' in data
    assert mutation_digest(decode_mutation(data, MediaType.JSON)) == mutation_digest(AGGREGATE)


@pytest.mark.parametrize(
    "other",
    [
        msgspec.structs.replace(AGGREGATE, day="2024-01-02"),
        msgspec.structs.replace(AGGREGATE, created_at=AGGREGATE.created_at + 1),
        msgspec.structs.replace(AGGREGATE, levels=Levels(stress=1, valence=2, arousal=2)),
        Withdrawn(seq=3, created_at=AGGREGATE.created_at),
        SetConsent(seq=3, created_at=AGGREGATE.created_at, scope=Scope.PUSH, granted=True),
    ],
)
def test_different_content_has_another_digest(other: Any) -> None:
    assert mutation_digest(other) != mutation_digest(AGGREGATE)


def test_invalid_mutation_digest_ignores_encoding_and_key_order() -> None:
    tree = {"type": "LaunchRockets", "seq": 3, "created_at": 1, "payload": {"b": 1, "a": [1.5, None]}}
    digests = {
        invalid_mutation_digest(msgspec.json.encode(tree), MediaType.JSON),
        invalid_mutation_digest(msgspec.json.encode(_reordered(tree)).replace(b":", b": "), MediaType.JSON),
        invalid_mutation_digest(msgspec.msgpack.encode(tree), MediaType.MSGPACK),
        invalid_mutation_digest(msgspec.msgpack.encode(_reordered(tree)), MediaType.MSGPACK),
    }
    assert len(digests) == 1
    assert invalid_mutation_digest(msgspec.json.encode({**tree, "seq": 4}), MediaType.JSON) not in digests


def test_invalid_and_valid_digests_never_collide() -> None:
    # The same bytes judged invalid (e.g. by an older build) and valid are still told apart.
    data = encode_mutation(AGGREGATE, MediaType.MSGPACK)
    assert invalid_mutation_digest(data, MediaType.MSGPACK) != mutation_digest(AGGREGATE)


def test_undecodable_bytes_are_hashed_as_sent_with_their_media_type() -> None:
    # msgpack maps may have non-string keys, which have no canonical order: hashed as sent.
    data = msgspec.msgpack.encode({1: "a", "seq": 3})
    first = invalid_mutation_digest(data, MediaType.MSGPACK)
    assert first == invalid_mutation_digest(data, MediaType.MSGPACK)
    assert first != invalid_mutation_digest(msgspec.msgpack.encode({2: "a", "seq": 3}), MediaType.MSGPACK)
    assert first != invalid_mutation_digest(data, MediaType.JSON)
    assert len(first) == 32
