"""A deterministic corpus of pushed mutation slots, valid and hostile, in both media types.

The digest fixture (``fixtures/mutation_digests.json``) was generated from this corpus with the
digest code as it was before inputs that raised while digesting got a fallback; the fixture, not
this module, is the reference. The hostile values are reused by the sync property test.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import msgspec

from sync.codec import MediaType
from sync.messages import (
    AcceptOffer,
    AckNotice,
    ConsentScope,
    DeclineOffer,
    FieldMechanism,
    Levels,
    Mechanism,
    Platform,
    RegisterPushToken,
    SetConsent,
    SubmitAggregate,
    Withdrawn,
)

T0 = 1_717_243_200_000

VALID: list[msgspec.Struct] = [
    SubmitAggregate(
        seq=1,
        created_at=T0,
        day="2024-06-01",
        tz_offset_min=120,
        window_bucket=3,
        levels=Levels(stress=1, valence=2, arousal=0),
        mechanism=Mechanism(
            stress=FieldMechanism(k=2, epsilon=0.6),
            valence=FieldMechanism(k=3, epsilon=0.2),
            arousal=FieldMechanism(k=3, epsilon=0.2),
        ),
        model_version="affect-mlp-1.0.0",
    ),
    AcceptOffer(seq=2, created_at=T0 + 1, offer_id="of_9Xw2"),
    DeclineOffer(seq=3, created_at=T0 + 2, offer_id="of_9Xw2", reason="not_now"),
    DeclineOffer(seq=4, created_at=T0 + 3, offer_id="of_9Xw2"),
    SetConsent(seq=5, created_at=T0 + 4, scope=ConsentScope.SHARE_AGGREGATES, granted=True),
    SetConsent(seq=6, created_at=T0 + 5, scope=ConsentScope.PUSH, granted=False),
    RegisterPushToken(seq=7, created_at=T0 + 6, token="fcm:" + "x" * 150, platform=Platform.ANDROID),
    AckNotice(seq=8, created_at=T0 + 7, notice_id="nt_5Rk1"),
    Withdrawn(seq=9, created_at=T0 + 8, original_type="SubmitAggregate"),
    Withdrawn(seq=10, created_at=T0 + 9),
]

HOSTILE_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1.5,
    -0.0,
    1e300,
    2**53,
    2**53 + 1,
    2**63 - 1,
    -(2**63),
    2**64 - 1,
    "",
    "x" * 300,
    "\u0000",
    "é✓\U0001f600",
    "\ud7ff",
    [],
    {},
    [1, "a", None],
    {"a": {"b": {"c": [1, 2, {"d": None}]}}},
    {"": 1},
    {"type": "AcceptOffer"},
]
"""Values msgspec can encode in both media types (JSON-only ones are built as text below)."""

JSON_ONLY_TEXT: list[bytes] = [
    b"18446744073709551616",  # 2**64: no msgpack integer holds it
    b"-9223372036854775809",  # -(2**63) - 1
    b"340282366920938463463374607431768211456",  # 2**128
    b"1e400",
    b"-1e400",
    b"1.0",
    b"1E2",
    b"0.1e-400",
]

FIELDS = ["type", "seq", "created_at", "offer_id", "day", "levels", "scope", "granted", "token", "zz_unknown"]


def _encode(tree: Any, media: MediaType) -> bytes:
    return msgspec.json.encode(tree) if media is MediaType.JSON else msgspec.msgpack.encode(tree)


def corpus(seed: int = 20241204) -> Iterator[tuple[MediaType, bytes]]:
    """Every slot of the corpus as ``(media, raw bytes)``, in a fixed order."""
    rng = random.Random(seed)
    for media in (MediaType.JSON, MediaType.MSGPACK):
        for message in VALID:
            tree = msgspec.to_builtins(message)
            yield media, _encode(tree, media)
            yield media, _encode(dict(reversed(list(tree.items()))), media)
            yield media, _encode({**tree, "zz_unknown": {"nested": [1, {"x": None}]}}, media)
            for field in list(tree)[1:]:
                for value in rng.sample(HOSTILE_VALUES, 4):
                    yield media, _encode({**tree, field: value}, media)
                yield media, _encode({k: v for k, v in tree.items() if k != field}, media)
        for value in HOSTILE_VALUES:
            yield media, _encode(value, media)
            yield media, _encode({"type": "LaunchRockets", "seq": 1, "created_at": T0, "x": value}, media)
        for _ in range(40):
            tree = {name: rng.choice(HOSTILE_VALUES) for name in rng.sample(FIELDS, rng.randint(1, 6))}
            yield media, _encode(tree, media)
    # JSON text whose numbers msgspec cannot re-encode in msgpack, or reads in special ways.
    for text in JSON_ONLY_TEXT:
        yield MediaType.JSON, text
        yield MediaType.JSON, b'{"type":"AcceptOffer","seq":1,"created_at":' + text + b',"offer_id":"x"}'
        yield (
            MediaType.JSON,
            b'{"type":"AcceptOffer","seq":1,"created_at":1,"offer_id":"x","zz":' + text + b"}",
        )
        yield MediaType.JSON, b'{"type":"Nope","seq":1,"v":[' + text + b"]}"
    # Bytes that are not JSON/msgpack at all, or are truncated.
    for raw in (b"", b"{", b'{"seq":1', b"\xff\xfe", b"\xc1", b"\x81\xa3seq", b"\x92\x01"):
        for media in (MediaType.JSON, MediaType.MSGPACK):
            yield media, raw
