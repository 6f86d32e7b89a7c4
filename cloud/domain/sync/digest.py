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

from sync.codec import MediaType
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
    with their media type.
    """
    value: Any
    try:
        value = msgspec.json.decode(raw) if media is MediaType.JSON else msgspec.msgpack.decode(raw)
        canonical = _canonical.encode(value)
    except (msgspec.DecodeError, msgspec.EncodeError, TypeError, ValueError):
        return hashlib.sha256(_RAW + media.value.encode("ascii") + b"\x00" + raw).digest()
    return hashlib.sha256(_GENERIC + canonical).digest()
