"""Mutation digests: equal for the same mutation however it was encoded, different otherwise."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from cloud.domain.sync.digest import decode_pushed, invalid_mutation_digest, mutation_digest
from sync.codec import MediaType, decode_mutation, encode_mutation
from sync.messages import ConsentScope as Scope
from sync.messages import FieldMechanism, Levels, Mechanism, SetConsent, SubmitAggregate, Withdrawn
from tests.unit.cloud.digest_corpus import corpus

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


FIXTURE = Path(__file__).parent / "fixtures" / "mutation_digests.json"


def test_every_input_that_had_a_digest_keeps_it_byte_for_byte() -> None:
    """A device retrying a request across a server upgrade must get ``duplicate``, not ``seq_conflict``.

    The fixture holds the corpus's slots with the digests the server gave them before inputs that
    raised while digesting got a fallback (``digest_corpus.py`` made it)."""
    rows = json.loads(FIXTURE.read_text())["rows"]
    valid = 0
    for row in rows:
        mutation, digest, _ = decode_pushed(bytes.fromhex(row["raw"]), MediaType(row["media"]))
        assert digest.hex() == row["digest"], row["raw"]
        valid += mutation is not None
    # Both branches are covered: valid mutations and invalid ones.
    assert valid >= 40 and len(rows) - valid >= 400


def test_no_slot_of_the_corpus_raises() -> None:
    known = {(r["media"], r["raw"]) for r in json.loads(FIXTURE.read_text())["rows"]}
    fell_back = 0
    for media, raw in corpus():
        mutation, digest, error = decode_pushed(raw, media)
        assert len(digest) == 32
        assert (mutation is None) == (error is not None)
        fell_back += (media.value, raw.hex()) not in known
    assert fell_back >= 9


def test_an_integer_beyond_64_bits_gets_the_digest_of_its_bytes() -> None:
    # It used to raise OverflowError while digesting: 500 on every retry, the outbox blocked for good.
    raw = b'{"type":"AcceptOffer","seq":1,"created_at":18446744073709551616,"offer_id":"x"}'
    mutation, digest, error = decode_pushed(raw, MediaType.JSON)
    assert mutation is None and error
    assert digest == hashlib.sha256(b"raw\x00application/json\x00" + raw).digest()
    # The same bytes digest the same; other bytes do not.
    assert decode_pushed(raw, MediaType.JSON)[1] == digest
    assert decode_pushed(raw.replace(b"616", b"617"), MediaType.JSON)[1] != digest
