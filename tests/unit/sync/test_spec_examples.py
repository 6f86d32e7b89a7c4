"""Every example in docs/specs/sync-protocol.md decodes and re-encodes byte for byte.

The spec is normative and written for implementers in other languages, so its examples must be
exactly what this implementation emits. A wire type without an example fails the suite; so does an
example naming no wire type. When a wire type changes, the failure shows the block to paste.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from sync import codec
from sync.codec import MediaType
from sync.messages import (
    CHANGE_TYPES,
    MUTATION_TYPES,
    Change,
    Mutation,
    Problem,
    SyncEnvelope,
    SyncReply,
    SyncReplyEnvelope,
    SyncRequest,
    Wire,
)

SPEC = Path(__file__).resolve().parents[3] / "docs" / "specs" / "sync-protocol.md"

_FENCE = re.compile(r"^```(json|msgpack-hex) example=(\S+)[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)

# Server- and client-side views that share their tag with SyncRequest / SyncReply; their bytes are
# exactly those of the messages they view, which the examples cover.
VIEWS: frozenset[type[Wire]] = frozenset({SyncEnvelope, SyncReplyEnvelope})


def _all_subclasses(cls: type[Wire]) -> list[type[Wire]]:
    found: list[type[Wire]] = []
    sub: type[Wire]
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_all_subclasses(sub))
    return found


def wire_types() -> dict[str, type[Wire]]:
    """Every concrete wire message: Wire subclasses that are neither views nor abstract bases."""
    everything = _all_subclasses(Wire)
    bases = {c for c in everything if c.__subclasses__()}
    return {c.__name__: c for c in everything if c not in VIEWS and c not in bases}


def _decode_change(data: bytes, media: MediaType) -> Any:
    change = codec.decode_change(data, media)
    assert change is not None, "a change type of this build was skipped as unknown"
    return change


def decoder_for(name: str) -> Callable[[bytes, MediaType], Any]:
    """The decoder a peer uses for a message of this name."""
    if name == "Problem":
        return lambda data, _media: codec.decode_problem(data)
    cls = wire_types()[name]
    if issubclass(cls, Mutation):
        return codec.decode_mutation
    if issubclass(cls, Change):
        return _decode_change
    by_name: dict[str, Callable[[bytes, MediaType], Any]] = {
        "SyncRequest": codec.decode_request,
        "SyncReply": codec.decode_reply,
        "EnrollRequest": codec.decode_enroll,
        "RefreshRequest": codec.decode_refresh,
        "TokenPair": codec.decode_tokens,
    }
    if name not in by_name:
        pytest.fail(f"no decoder known for wire type {name}: add it here and to the spec")
    return by_name[name]


def load_examples() -> dict[tuple[str, str], str]:
    """(kind, example name) -> block text, where kind is ``json`` or ``msgpack-hex``."""
    examples: dict[tuple[str, str], str] = {}
    for match in _FENCE.finditer(SPEC.read_text(encoding="utf-8")):
        kind, name, body = match.group(1), match.group(2), match.group(3)
        key = (kind, name)
        if key in examples:
            raise AssertionError(f"two `{kind}` examples named {name}")
        examples[key] = body.rstrip("\n")
    return examples


EXAMPLES = load_examples()
JSON_EXAMPLES = sorted(name for kind, name in EXAMPLES if kind == "json")
MSGPACK_EXAMPLES = sorted(name for kind, name in EXAMPLES if kind == "msgpack-hex")


def type_name(example: str) -> str:
    """``SyncReply/gap`` -> ``SyncReply``."""
    return example.split("/", 1)[0]


def pretty_json(message: msgspec.Struct) -> str:
    return msgspec.json.format(codec.encode(message, MediaType.JSON), indent=2).decode()


def hex_bytes(block: str) -> bytes:
    return bytes.fromhex("".join(block.split()))


def decode_json_example(name: str) -> Any:
    return decoder_for(type_name(name))(EXAMPLES["json", name].encode(), MediaType.JSON)


def decode_msgpack_example(name: str) -> Any:
    return decoder_for(type_name(name))(hex_bytes(EXAMPLES["msgpack-hex", name]), MediaType.MSGPACK)


# --- coverage ----------------------------------------------------------------------


def test_the_spec_has_examples() -> None:
    assert len(JSON_EXAMPLES) >= len(wire_types()) + 1
    assert MSGPACK_EXAMPLES


def test_wire_type_discovery_matches_the_unions() -> None:
    # Guards the dynamic enumeration itself: a new mutation or change must join its union.
    found = wire_types()
    assert {c.__name__ for c in MUTATION_TYPES} <= found.keys()
    assert {c.__name__ for c in CHANGE_TYPES} <= found.keys()
    assert {n for n, c in found.items() if issubclass(c, Mutation)} == {c.__name__ for c in MUTATION_TYPES}
    assert {n for n, c in found.items() if issubclass(c, Change)} == {c.__name__ for c in CHANGE_TYPES}
    assert {"SyncRequest", "SyncReply", "EnrollRequest", "RefreshRequest", "TokenPair"} <= found.keys()
    assert not VIEWS & set(found.values())


@pytest.mark.parametrize("name", sorted(wire_types()))
def test_every_wire_type_has_a_json_and_a_msgpack_example(name: str) -> None:
    assert name in {type_name(n) for n in JSON_EXAMPLES}, f"no ```json example={name} block in the spec"
    assert name in {type_name(n) for n in MSGPACK_EXAMPLES}, f"no ```msgpack-hex example={name} in the spec"


def test_problem_has_a_json_example_and_no_msgpack_one() -> None:
    # Errors are always application/problem+json, so a msgpack Problem would mislead implementers.
    assert "Problem" in {type_name(n) for n in JSON_EXAMPLES}
    assert "Problem" not in {type_name(n) for n in MSGPACK_EXAMPLES}


@pytest.mark.parametrize("name", sorted(set(JSON_EXAMPLES) | set(MSGPACK_EXAMPLES)))
def test_every_example_names_a_wire_type(name: str) -> None:
    assert type_name(name) in set(wire_types()) | {"Problem"}


@pytest.mark.parametrize("name", MSGPACK_EXAMPLES)
def test_every_msgpack_example_has_a_json_twin(name: str) -> None:
    assert name in JSON_EXAMPLES


# --- byte-for-byte round trips -----------------------------------------------------


@pytest.mark.parametrize("name", JSON_EXAMPLES)
def test_json_example_round_trips(name: str) -> None:
    message = decode_json_example(name)
    assert type(message).__name__ == type_name(name)
    assert pretty_json(message) == EXAMPLES["json", name]


@pytest.mark.parametrize("name", MSGPACK_EXAMPLES)
def test_msgpack_example_round_trips(name: str) -> None:
    message = decode_msgpack_example(name)
    assert type(message).__name__ == type_name(name)
    data = hex_bytes(EXAMPLES["msgpack-hex", name])
    assert codec.encode(message, MediaType.MSGPACK).hex() == data.hex()


@pytest.mark.parametrize("name", MSGPACK_EXAMPLES)
def test_json_and_msgpack_forms_are_the_same_message(name: str) -> None:
    assert decode_json_example(name) == decode_msgpack_example(name)


# --- the two-step views agree with the whole messages ------------------------------


@pytest.mark.parametrize("media", list(MediaType))
def test_request_example_through_envelope_gives_the_same_mutations(media: MediaType) -> None:
    whole: SyncRequest = decode_json_example("SyncRequest")
    assert whole.push, "the SyncRequest example should push mutations"
    data = codec.encode(whole, media)
    envelope = codec.decode_envelope(data, media)
    assert [codec.decode_mutation(raw, media) for raw in envelope.push] == whole.push
    assert [codec.peek_seq(raw, media) for raw in envelope.push] == [m.seq for m in whole.push]
    assert (envelope.protocol, envelope.device_id, envelope.device_time) == (
        whole.protocol,
        whole.device_id,
        whole.device_time,
    )
    assert (envelope.cursor, envelope.pull_limit) == (whole.cursor, whole.pull_limit)
    # A request re-assembled from the raw mutations is the very same bytes.
    assert codec.encode_request_raw(envelope, media) == data


@pytest.mark.parametrize("media", list(MediaType))
def test_reply_example_through_envelope_gives_the_same_changes(media: MediaType) -> None:
    whole: SyncReply = decode_json_example("SyncReply")
    assert whole.changes, "the SyncReply example should carry changes"
    data = codec.encode(whole, media)
    envelope = codec.decode_reply_envelope(data, media)
    assert [codec.decode_change(raw, media) for raw in envelope.changes] == whole.changes
    assert envelope.results == whole.results
    assert (envelope.last_seq, envelope.cursor, envelope.has_more) == (
        whole.last_seq,
        whole.cursor,
        whole.has_more,
    )


def test_problem_example_omits_defaults() -> None:
    problem: Problem = decode_json_example("Problem")
    assert problem.type == "about:blank"
    assert '"type"' not in EXAMPLES["json", "Problem"]
    assert problem.supported_protocols == [1, 2]


# --- evolution: unknown fields are skipped -------------------------------------------


def _with_unknown_fields(value: Any) -> Any:
    """Add a field no build knows to every object in a decoded JSON tree (not to maps keyed by data)."""
    if isinstance(value, dict):
        grown = {k: _with_unknown_fields(v) for k, v in value.items()}
        # ConsentState.scopes is a map keyed by an enum: a new key there is a new enum value, which
        # needs a new protocol version (spec §11), so it is left alone.
        if not set(value) <= {"inference", "share_aggregates", "push"}:
            grown["zz_added_later"] = {"nested": [1, "two", None], "flag": True}
        return grown
    if isinstance(value, list):
        return [_with_unknown_fields(v) for v in value]
    return value


# Problem is JSON only (no msgpack decoder exists for it).
_UNKNOWN_FIELD_CASES = [
    (name, media)
    for name in JSON_EXAMPLES
    for media in MediaType
    if type_name(name) != "Problem" or media is MediaType.JSON
]


@pytest.mark.parametrize(("name", "media"), _UNKNOWN_FIELD_CASES)
def test_every_message_accepts_unknown_fields(name: str, media: MediaType) -> None:
    tree = msgspec.json.decode(EXAMPLES["json", name].encode())
    grown = _with_unknown_fields(tree)
    data = msgspec.json.encode(grown) if media is MediaType.JSON else msgspec.msgpack.encode(grown)
    assert decoder_for(type_name(name))(data, media) == decode_json_example(name)


def test_no_struct_of_the_protocol_forbids_unknown_fields() -> None:
    import sync.messages

    structs = [
        obj
        for obj in vars(sync.messages).values()
        if isinstance(obj, type) and issubclass(obj, msgspec.Struct) and obj is not msgspec.Struct
    ]
    assert len(structs) > 20
    for struct in structs:
        assert not struct.__struct_config__.forbid_unknown_fields, struct.__name__


# --- the error-code table ----------------------------------------------------------


def _section(title_prefix: str) -> str:
    text = SPEC.read_text(encoding="utf-8")
    start = text.index(f"\n## {title_prefix}")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def test_error_code_table_lists_exactly_the_error_codes() -> None:
    from sync.codes import ErrorCode

    rows = re.findall(r"^\| `([a-z_]+)` \| (\d{3}) \|", _section("9. Error codes"), re.M)
    assert sorted(code for code, _ in rows) == sorted(code.value for code in ErrorCode)


def test_seq_conflict_is_documented_as_409() -> None:
    rows = dict(re.findall(r"^\| `([a-z_]+)` \| (\d{3}) \|", _section("9. Error codes"), re.M))
    assert rows["seq_conflict"] == "409"
    problem: Problem = decode_json_example("Problem/seq_conflict")
    assert (problem.status, problem.code) == (409, "seq_conflict")


def test_limits_table_states_the_limits_the_code_enforces() -> None:
    from sync import limits

    section = _section("8. Limits")
    stated = {
        name: int(value.replace(",", ""))
        for value, name in re.findall(r"\| ([\d,]+)[^|]*\(`(?:sync\.limits\.)?(MAX_[A-Z_]+)`\)", section)
    }
    assert stated["MAX_MUTATIONS"] == limits.MAX_MUTATIONS
    assert stated["MAX_NESTING_DEPTH"] == limits.MAX_NESTING_DEPTH
    assert f"1 MiB = {limits.MAX_BODY_BYTES:,} bytes" in section
