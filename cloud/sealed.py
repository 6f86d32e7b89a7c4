"""Sealed files: a file encrypted and authenticated with a 256-bit key, in chunks, for backups.

AES-256-GCM (the ``cryptography`` package) seals each 1 MiB chunk on its own, so a file of any size
streams through a small buffer. The framing is this module's: a header line (the format, a random
32-byte salt, the key's fingerprint and the caller's metadata, all authenticated), then chunks,
each ``length (4 bytes) | ciphertext and tag``. Each file is sealed under its own key, derived
from the backup key and the salt (HKDF-SHA256), so a chunk's nonce can simply be its index: no two
files share a key, so no nonce ever repeats under one. A chunk's associated data is the header, its
index and whether it is the last, so chunks cannot be reordered, dropped, or the file cut at a
chunk boundary without :class:`SealBroken`.

The key never lives in the file; its fingerprint (a hash) only lets a wrong key be named as such.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Annotated, Any, Final

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC: Final = b"EC-SEALED-2\n"
CHUNK: Final = 1024 * 1024
KEY_BYTES: Final = 32


class SealError(ValueError):
    """Base of the reasons a sealed file cannot be made or opened."""


class SealKeyInvalid(SealError):
    """The key is not the base64 of 32 bytes."""


class SealKeyWrong(SealError):
    """The file was sealed with another key."""


class SealBroken(SealError):
    """The file is not a sealed file, or was changed, cut or reordered after sealing."""


class Header(msgspec.Struct, frozen=True, kw_only=True):
    salt: Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]
    key_fingerprint: str
    meta: dict[str, Any]


def load_key(text: str) -> bytes:
    """A key from the base64 of its 32 bytes (``BACKUP_KEY``)."""
    try:
        key = base64.b64decode(text.strip().encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise SealKeyInvalid("the key is not base64") from None
    if len(key) != KEY_BYTES:
        raise SealKeyInvalid(f"the key must be {KEY_BYTES} bytes, got {len(key)}")
    return key


def new_key() -> str:
    """A new random key, as base64."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def fingerprint(key: bytes) -> str:
    return hashlib.sha256(b"ec-sealed-key:" + key).hexdigest()[:16]


def _file_key(key: bytes, salt: bytes) -> AESGCM:
    derived = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt, info=b"ec-sealed file key").derive(
        key
    )
    return AESGCM(derived)


def _nonce(index: int) -> bytes:
    return struct.pack(">4xQ", index)


def _aad(header: bytes, index: int, last: bool) -> bytes:
    return header + struct.pack(">QB", index, int(last))


def seal(source: IO[bytes], target: IO[bytes], key: bytes, meta: dict[str, Any]) -> None:
    """Encrypt ``source`` to ``target`` with ``meta`` (readable without the key, authenticated)."""
    salt = os.urandom(32)
    header = msgspec.json.encode(Header(salt=salt.hex(), key_fingerprint=fingerprint(key), meta=meta))
    target.write(MAGIC + header + b"\n")
    aead = _file_key(key, salt)
    index = 0
    current = source.read(CHUNK)
    while True:
        following = source.read(CHUNK)
        last = not following
        sealed = aead.encrypt(_nonce(index), current, _aad(header, index, last))
        target.write(struct.pack(">I", len(sealed)) + sealed)
        if last:
            return
        current, index = following, index + 1


def _header(source: IO[bytes]) -> tuple[Header, bytes]:
    if source.read(len(MAGIC)) != MAGIC:
        raise SealBroken("not a sealed file")
    line = source.readline(64 * 1024)
    if not line.endswith(b"\n"):
        raise SealBroken("the header is cut")
    header = line[:-1]
    try:
        return msgspec.json.decode(header, type=Header), header
    except msgspec.DecodeError:
        raise SealBroken("the header is not readable") from None


def read_meta(source: IO[bytes]) -> tuple[dict[str, Any], bytes]:
    """The metadata of a sealed file and its header bytes; reads past the header line."""
    parsed, header = _header(source)
    return parsed.meta, header


def _chunks(source: IO[bytes]) -> Iterator[bytes]:
    while True:
        size = source.read(4)
        if not size:
            return
        if len(size) != 4:
            raise SealBroken("the file is cut")
        (length,) = struct.unpack(">I", size)
        if length > CHUNK + 16:
            raise SealBroken("a chunk is larger than the format allows")
        data = source.read(length)
        if len(data) != length:
            raise SealBroken("the file is cut")
        yield data


def unseal(source: IO[bytes], target: IO[bytes], key: bytes) -> dict[str, Any]:
    """Decrypt a sealed file to ``target``; returns its metadata. :class:`SealKeyWrong` for another
    key, :class:`SealBroken` for a file changed, cut or reordered (``target`` then holds a prefix of
    the plaintext at most: the caller writes to a scratch file and discards it)."""
    parsed, header = _header(source)
    if parsed.key_fingerprint != fingerprint(key):
        raise SealKeyWrong("the file was sealed with another key")
    aead = _file_key(key, bytes.fromhex(parsed.salt))
    chunks = _chunks(source)
    current = next(chunks, None)
    index = 0
    while current is not None:
        following = next(chunks, None)
        last = following is None
        try:
            plain = aead.decrypt(_nonce(index), current, _aad(header, index, last))
        except InvalidTag:
            raise SealBroken(f"chunk {index} does not authenticate: the file was changed or cut") from None
        target.write(plain)
        current, index = following, index + 1
    if index == 0:
        raise SealBroken("the file holds no chunk")
    return parsed.meta


def seal_file(source: Path, target: Path, key: bytes, meta: dict[str, Any]) -> None:
    with source.open("rb") as src, target.open("wb") as dst:
        seal(src, dst, key, meta)
        dst.flush()
        os.fsync(dst.fileno())


def unseal_file(source: Path, target: Path, key: bytes) -> dict[str, Any]:
    with source.open("rb") as src, target.open("wb") as dst:
        return unseal(src, dst, key)
