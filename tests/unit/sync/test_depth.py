"""The nesting-depth check every body passes before a message decoder sees it (spec §8)."""

from __future__ import annotations

import msgspec
import pytest

from sync.codec import CodecError, MediaType, NestingTooDeep, decode_enroll, decode_envelope, decode_mutation
from sync.depth import TooDeep, check_depth, value_depth
from sync.limits import MAX_NESTING_DEPTH


def nested_json(depth: int, leaf: bytes = b"1") -> bytes:
    """``depth`` arrays around ``leaf``, alternating lists and objects."""
    out = leaf
    for level in range(depth):
        out = b"[" + out + b"]" if level % 2 == 0 else b'{"k":' + out + b"}"
    return out


def nested_msgpack(depth: int, leaf: bytes = b"\x01") -> bytes:
    """``depth`` fixarrays/fixmaps around ``leaf`` (a msgpack value)."""
    out = leaf
    for level in range(depth):
        out = b"\x91" + out if level % 2 == 0 else b"\x81\xa1k" + out
    return out


def nested(depth: int, media: MediaType) -> bytes:
    return nested_msgpack(depth) if media is MediaType.MSGPACK else nested_json(depth)


@pytest.mark.parametrize("media", list(MediaType))
@pytest.mark.parametrize(
    ("depth", "refused"),
    [
        (0, False),
        (1, False),
        (5, False),
        (MAX_NESTING_DEPTH, False),
        (MAX_NESTING_DEPTH + 1, True),
        (5000, True),
    ],
)
def test_depth_up_to_the_limit_passes_and_beyond_it_is_refused(
    media: MediaType, depth: int, refused: bool
) -> None:
    data = nested(depth, media)
    if refused:
        with pytest.raises(TooDeep):
            check_depth(data, media is MediaType.MSGPACK, MAX_NESTING_DEPTH)
    else:
        check_depth(data, media is MediaType.MSGPACK, MAX_NESTING_DEPTH)


@pytest.mark.parametrize(
    ("value", "depth"),
    [
        (1, 0),
        ("[[[", 0),
        ([], 1),
        ({}, 1),
        ([1, [2, [3]]], 3),
        ({"a": [], "b": {"c": {"d": 1}}}, 3),
        ([[[]], [[[[]]]]], 5),
        ({(1, (2,)): 0}, 3),  # a msgpack array used as a map key decodes to a tuple
    ],
)
def test_value_depth(value: object, depth: int) -> None:
    assert value_depth(value, 100) == depth


def test_value_depth_stops_counting_above_the_limit() -> None:
    value: list[object] = []
    for _ in range(50):
        value = [value]
    assert value_depth(value, 10) == 11


def test_brackets_inside_json_strings_do_not_count() -> None:
    text = msgspec.json.encode({"s": "[" * 500 + '\\"{' * 100, "n": [[1]]})
    check_depth(text, False, 3)
    with pytest.raises(TooDeep):
        check_depth(text, False, 2)


def test_container_bytes_inside_msgpack_strings_do_not_count() -> None:
    data = msgspec.msgpack.encode({"s": b"\x91" * 500, "t": "\u0491" * 100, "n": [[1]]})
    check_depth(data, True, 3)
    with pytest.raises(TooDeep):
        check_depth(data, True, 2)


def test_a_msgpack_array_key_counts_towards_the_depth() -> None:
    # {[[1]]: 0}: a map whose key nests two arrays.
    data = b"\x81\x91\x91\x01\x00"
    check_depth(data, True, 3)
    with pytest.raises(TooDeep):
        check_depth(data, True, 2)


@pytest.mark.parametrize("data", [b"\xc1", b"\x81\x81\x01\x02\x03", b"\x92\x01"])
def test_malformed_msgpack_is_a_decode_error(data: bytes) -> None:
    # Fewer openers than the limit would pass unread; the limit of 0 forces the decode.
    with pytest.raises(msgspec.DecodeError):
        check_depth(data + b"\x91" * 3, True, 0)


@pytest.mark.parametrize("media", list(MediaType))
def test_whole_bodies_are_checked_by_the_codec(media: MediaType) -> None:
    with pytest.raises(NestingTooDeep):
        decode_envelope(nested(1000, media), media)
    with pytest.raises(NestingTooDeep):
        decode_enroll(nested(MAX_NESTING_DEPTH + 1, media), media)
    # Within the limit the message decoder answers as before: the wrong shape.
    with pytest.raises(CodecError) as caught:
        decode_enroll(nested(MAX_NESTING_DEPTH, media), media)
    assert not isinstance(caught.value, NestingTooDeep)


@pytest.mark.parametrize("media", list(MediaType))
def test_a_part_decoded_alone_never_raises_recursion_error(media: MediaType) -> None:
    # Parts (one mutation of a checked envelope) are not measured again; a hostile one decoded on
    # its own still gets a named error.
    with pytest.raises(NestingTooDeep):
        decode_mutation(nested(100_000, media), media)
