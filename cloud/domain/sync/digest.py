"""Content digests of pushed mutations, for telling a replay from a reused seq.

A device that resends a mutation the server already processed (its reply was lost) sends the same
content under the same seq: that is a ``duplicate``. A device whose store was restored from a
backup allocates seqs the server already processed to *new* mutations: the same seq with other
content. Comparing a digest of what was processed with what is pushed tells the two apart, so the
second case is refused (``409 seq_conflict``) instead of being dropped as a duplicate.

The digest is taken over a canonical encoding, so the same mutation pushed once as JSON and once
as msgpack (or with its fields in another order, or with fields this build does not know) has
one digest.
"""

from __future__ import annotations

import hashlib
from typing import Any, Final

import msgspec

from sync.codec import CodecError, MediaType, decode_mutation
from sync.messages import Mutation

# ``deterministic`` sorts map keys; struct fields keep their declared order. Decoding to the
# typed mutation first drops unknown fields and fills defaults, so equal mutations encode equally.
_canonical: Final = msgspec.msgpack.Encoder(order="deterministic")

# Domain separation: a decoded mutation, a generically decoded (invalid) one and raw bytes can
# never share a digest.
_DECODED: Final = b"mutation\x00"
_GENERIC: Final = b"generic\x00"
_RAW: Final = b"raw\x00"


def mutation_digest(mutation: Mutation) -> bytes:
    """SHA-256 of the canonical msgpack encoding of a decoded, valid mutation."""
    return hashlib.sha256(_DECODED + _canonical.encode(mutation)).digest()


def invalid_mutation_digest(raw: bytes, media: MediaType) -> bytes:
    """Digest of a mutation that failed decoding or validation.

    The bytes are decoded as plain JSON/msgpack values and re-encoded canonically, so whitespace
    or key order does not matter; bytes that will not even do that are hashed as sent, prefixed
    with their media type. That includes values msgpack cannot hold (a JSON integer outside 64
    bits raises ``OverflowError`` when re-encoded): whatever a device pushes must get a digest, or
    its request fails on every retry and its outbox is blocked for good. Inputs that digested
    before this fallback keep their digests byte for byte (a fixture test), so a request in flight
    across an upgrade is still a ``duplicate``, never a ``seq_conflict``.
    """
    value: Any
    try:
        value = msgspec.json.decode(raw) if media is MediaType.JSON else msgspec.msgpack.decode(raw)
        canonical = _canonical.encode(value)
    except Exception:  # any value the generic codecs refuse, whatever they raise
        return hashlib.sha256(_RAW + media.value.encode("ascii") + b"\x00" + raw).digest()
    return hashlib.sha256(_GENERIC + canonical).digest()


def decode_pushed(raw: bytes, media: MediaType) -> tuple[Mutation | None, bytes, str | None]:
    """One pushed mutation as the server keeps it: ``(mutation, digest, error)``.

    ``mutation`` is ``None`` and ``error`` says why when it fails decoding or validation; the digest
    is taken either way, so a resent invalid mutation is recognised too. Never raises.
    """
    try:
        mutation = decode_mutation(raw, media)
    except CodecError as exc:
        return None, invalid_mutation_digest(raw, media), str(exc)[:200]
    return mutation, mutation_digest(mutation), None
