"""Sealed files (backups): a round trip of any size, the metadata readable without the key, and
every change, cut, reorder and wrong key refused."""

from __future__ import annotations

import base64
import io
import struct

import pytest

from cloud.sealed import (
    CHUNK,
    MAGIC,
    SealBroken,
    SealKeyInvalid,
    SealKeyWrong,
    load_key,
    new_key,
    read_meta,
    seal,
    unseal,
)

KEY = load_key(new_key())
META = {"format": 1, "engine": "sqlite", "taken_at": 1_700_000_000_000}


def sealed(data: bytes, key: bytes = KEY) -> bytes:
    out = io.BytesIO()
    seal(io.BytesIO(data), out, key, META)
    return out.getvalue()


def opened(blob: bytes, key: bytes = KEY) -> bytes:
    out = io.BytesIO()
    assert unseal(io.BytesIO(blob), out, key) == META
    return out.getvalue()


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17])
def test_a_round_trip_of_any_size(size: int) -> None:
    data = bytes(i % 251 for i in range(size))
    blob = sealed(data)
    assert data[:64] not in blob or size < 16  # the plaintext is not in the file
    assert opened(blob) == data
    assert read_meta(io.BytesIO(blob))[0] == META  # readable without the key


def _chunks(blob: bytes) -> tuple[bytes, list[bytes]]:
    head_end = blob.index(b"\n", len(MAGIC)) + 1
    rest, chunks = blob[head_end:], []
    while rest:
        (length,) = struct.unpack(">I", rest[:4])
        chunks.append(rest[: 4 + length])
        rest = rest[4 + length :]
    return blob[:head_end], chunks


def _spoil(kind: str, blob: bytes) -> bytes:
    head, chunks = _chunks(blob)
    if kind == "a flipped byte":
        spoiled = bytearray(blob)
        spoiled[-20] ^= 1
        return bytes(spoiled)
    if kind == "the last chunk dropped":
        return head + b"".join(chunks[:-1])
    if kind == "two chunks swapped":
        return head + chunks[1] + chunks[0] + b"".join(chunks[2:])
    if kind == "cut inside a chunk":
        return blob[:-7]
    if kind == "the metadata changed":
        return blob.replace(b'"engine":"sqlite"', b'"engine":"sqlitf"', 1)
    if kind == "not a sealed file":
        return b"SQLite format 3\x00" + blob
    if kind == "a header salt that is not hex":
        return blob.replace(b'"salt":"', b'"salt":"zz', 1)
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind",
    ["a flipped byte", "the last chunk dropped", "two chunks swapped", "cut inside a chunk",
     "the metadata changed", "not a sealed file", "a header salt that is not hex"],
)  # fmt: skip
def test_a_changed_cut_or_reordered_file_is_refused(kind: str) -> None:
    blob = sealed(bytes(range(256)) * (CHUNK // 128))  # three chunks
    with pytest.raises(SealBroken):
        opened(_spoil(kind, blob))


def test_another_key_is_named_as_such() -> None:
    with pytest.raises(SealKeyWrong):
        opened(sealed(b"data"), load_key(new_key()))


@pytest.mark.parametrize("text", ["", "not base64!", base64.b64encode(b"short").decode(), new_key() + "AAAA"])
def test_a_malformed_key_is_refused(text: str) -> None:
    with pytest.raises(SealKeyInvalid):
        load_key(text)


def test_two_files_sealed_alike_differ_entirely() -> None:
    """Each file has its own salt, so its own key: the same content never seals the same."""
    data = bytes(range(256)) * 64
    first, second = sealed(data), sealed(data)
    assert first[-(len(data) // 2) :] != second[-(len(data) // 2) :]
    assert opened(first) == opened(second) == data
