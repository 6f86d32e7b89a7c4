"""Encoders and decoders for both media types, built once at import.

The server decodes a request in two steps: the envelope (:class:`SyncEnvelope`, mutations
left raw) and then each mutation on its own, so one bad mutation is rejected alone. Clients
decode replies the same way so that change types they do not know are skipped.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Final

import msgspec

from sync.depth import TooDeep, check_depth
from sync.limits import MAX_NESTING_DEPTH
from sync.messages import (
    CHANGE_TYPES,
    AnyChange,
    AnyMutation,
    EnrollRequest,
    Mutation,
    Problem,
    RefreshRequest,
    Seq,
    SyncEnvelope,
    SyncReply,
    SyncReplyEnvelope,
    SyncRequest,
    TokenPair,
)


class MediaType(StrEnum):
    MSGPACK = "application/msgpack"
    JSON = "application/json"


PROBLEM_JSON: Final = "application/problem+json"


class CodecError(ValueError):
    """A body could not be decoded into the expected message."""


class NestingTooDeep(CodecError):
    """A body nests arrays and maps deeper than :data:`sync.limits.MAX_NESTING_DEPTH`."""


class _TagOnly(msgspec.Struct):
    """Lenient view of any tagged message, used to skip change types this build does not know."""

    type: str


class _SeqOnly(msgspec.Struct):
    """Lenient view of a mutation, used to learn the seq of one that failed to decode.

    The seq itself must still be a valid :data:`Seq`: a result cannot echo seq 0 or a negative
    one (clients would fail to decode the reply), so such a mutation makes the envelope invalid.
    """

    seq: Seq


_msgpack_encoder: Final = msgspec.msgpack.Encoder()
_json_encoder: Final = msgspec.json.Encoder()

_DECODED_TYPES: Final[dict[str, Any]] = {
    "request": SyncRequest,
    "envelope": SyncEnvelope,
    "mutation": AnyMutation,
    "reply": SyncReply,
    "reply_envelope": SyncReplyEnvelope,
    "change": AnyChange,
    "enroll": EnrollRequest,
    "refresh": RefreshRequest,
    "tokens": TokenPair,
    "problem": Problem,
    "seq_only": _SeqOnly,
    "tag_only": _TagOnly,
}
# Parts of a body already checked as a whole (a mutation or change cut out of a decoded envelope,
# or a device's own outbox row) are not measured again.
_PART_KINDS: Final = frozenset({"mutation", "change", "seq_only", "tag_only"})
_KNOWN_CHANGE_TAGS: Final = frozenset(t.__name__ for t in CHANGE_TYPES)
_msgpack_decoders: Final = {k: msgspec.msgpack.Decoder(t) for k, t in _DECODED_TYPES.items()}
_json_decoders: Final = {k: msgspec.json.Decoder(t) for k, t in _DECODED_TYPES.items()}


def media_type_of(content_type: str | None) -> MediaType | None:
    """Map a ``Content-Type`` header to a media type; ``None`` if unsupported."""
    if not content_type:
        return None
    base = content_type.split(";", 1)[0].strip().lower()
    if base in ("application/msgpack", "application/x-msgpack", "application/vnd.msgpack"):
        return MediaType.MSGPACK
    if base == "application/json":
        return MediaType.JSON
    return None


def encode(message: msgspec.Struct, media: MediaType = MediaType.MSGPACK) -> bytes:
    """Encode any wire message."""
    if media is MediaType.MSGPACK:
        return _msgpack_encoder.encode(message)
    return _json_encoder.encode(message)


def check_nesting(data: bytes, media: MediaType) -> None:
    """Refuse a body nested deeper than :data:`MAX_NESTING_DEPTH` (:class:`NestingTooDeep`), or one
    that is not JSON/msgpack at all (:class:`CodecError`), before any message decoder sees it."""
    try:
        check_depth(data, media is MediaType.MSGPACK, MAX_NESTING_DEPTH)
    except TooDeep as exc:
        raise NestingTooDeep(f"{exc} (at most {MAX_NESTING_DEPTH})") from None
    except msgspec.DecodeError as exc:
        raise CodecError(str(exc)) from exc


def _decode(kind: str, data: bytes, media: MediaType) -> Any:
    if kind not in _PART_KINDS:
        check_nesting(data, media)
    decoder = _msgpack_decoders[kind] if media is MediaType.MSGPACK else _json_decoders[kind]
    try:
        return decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise CodecError(str(exc)) from exc
    except RecursionError:
        # Only a part decoded on its own can get here (a whole body was measured first).
        raise NestingTooDeep(
            f"nested deeper than the decoder can follow (limit {MAX_NESTING_DEPTH})"
        ) from None


def decode_request(data: bytes, media: MediaType = MediaType.MSGPACK) -> SyncRequest:
    """Decode a whole request, mutations included (clients, tests, spec examples)."""
    result: SyncRequest = _decode("request", data, media)
    return result


def decode_envelope(data: bytes, media: MediaType = MediaType.MSGPACK) -> SyncEnvelope:
    """Decode a request's envelope; mutations stay raw for :func:`decode_mutation`."""
    result: SyncEnvelope = _decode("envelope", data, media)
    return result


def decode_mutation(raw: msgspec.Raw | bytes, media: MediaType = MediaType.MSGPACK) -> Mutation:
    """Decode and validate one mutation; raises :class:`CodecError`."""
    result: Mutation = _decode("mutation", bytes(raw), media)
    return result


def peek_seq(raw: msgspec.Raw | bytes, media: MediaType = MediaType.MSGPACK) -> int | None:
    """The ``seq`` of a mutation that may be invalid otherwise.

    ``None`` when it has no integer seq in ``1..2**53`` (the server then answers 400 invalid_body).
    """
    try:
        view: _SeqOnly = _decode("seq_only", bytes(raw), media)
    except CodecError:
        return None
    return view.seq


def encode_mutation(mutation: Mutation, media: MediaType = MediaType.MSGPACK) -> bytes:
    """Encode one mutation as stored in a device outbox and embedded in a request."""
    return encode(mutation, media)


def encode_request_raw(envelope: SyncEnvelope, media: MediaType = MediaType.MSGPACK) -> bytes:
    """Encode a request whose mutations are already encoded (``msgspec.Raw``) in ``media``."""
    return encode(envelope, media)


def decode_reply(data: bytes, media: MediaType = MediaType.MSGPACK) -> SyncReply:
    """Decode a whole reply; fails on a change type this build does not know."""
    result: SyncReply = _decode("reply", data, media)
    return result


def decode_reply_envelope(data: bytes, media: MediaType = MediaType.MSGPACK) -> SyncReplyEnvelope:
    """Decode a reply leaving changes raw, for :func:`decode_change`."""
    result: SyncReplyEnvelope = _decode("reply_envelope", data, media)
    return result


def decode_change(raw: msgspec.Raw | bytes, media: MediaType = MediaType.MSGPACK) -> AnyChange | None:
    """Decode one change; ``None`` for a change type this build does not know (clients skip it)."""
    data = bytes(raw)
    tag: _TagOnly = _decode("tag_only", data, media)
    if tag.type not in _KNOWN_CHANGE_TAGS:
        return None
    result: AnyChange = _decode("change", data, media)
    return result


def decode_enroll(data: bytes, media: MediaType = MediaType.JSON) -> EnrollRequest:
    result: EnrollRequest = _decode("enroll", data, media)
    return result


def decode_refresh(data: bytes, media: MediaType = MediaType.JSON) -> RefreshRequest:
    result: RefreshRequest = _decode("refresh", data, media)
    return result


def decode_tokens(data: bytes, media: MediaType = MediaType.JSON) -> TokenPair:
    result: TokenPair = _decode("tokens", data, media)
    return result


def decode_problem(data: bytes) -> Problem:
    result: Problem = _decode("problem", data, MediaType.JSON)
    return result
