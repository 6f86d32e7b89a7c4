"""The nesting depth of a JSON or msgpack body, measured before it is decoded into a message.

msgspec recurses once per nested array or map, even to skip a value it does not need (an unknown
field, a ``msgspec.Raw`` mutation), so a body nested about a thousand levels deep makes it raise
``RecursionError`` — an answer of 500 that needs no credentials. Every body is therefore checked
against :data:`sync.limits.MAX_NESTING_DEPTH` first (spec §8); the protocol itself never needs
more than five levels.

The check costs little on real traffic: a body with no more array and map openers than the limit
cannot be deeper, and that count is one pass in C. Otherwise the body is decoded into plain values
(``RecursionError`` there means far too deep) and the depth of the result is measured without
recursion. Measured on a 10-aggregate ``SyncRequest``: ~25 µs, against ~3 µs for decoding its
envelope; walking the msgpack bytes in Python instead costs about twice that.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

_JSON_OPENERS: Final = (b"[", b"{")
# msgpack containers: fixmap 0x80-0x8f, fixarray 0x90-0x9f, array 16/32 0xdc/0xdd, map 16/32 0xde/0xdf.
_MSGPACK_CONTAINER_BYTES: Final = bytes([*range(0x80, 0xA0), 0xDC, 0xDD, 0xDE, 0xDF])
_NOT_MSGPACK_CONTAINER: Final = bytes(b for b in range(256) if b not in _MSGPACK_CONTAINER_BYTES)
# msgpack arrays used as map keys decode to tuples, so tuples are containers too.
_CONTAINERS: Final = (list, dict, tuple)

_json_values: Final = msgspec.json.Decoder()
_msgpack_values: Final = msgspec.msgpack.Decoder()


class TooDeep(ValueError):
    """The value nests arrays and maps deeper than the limit."""


def _openers_at_most(data: bytes, msgpack: bool, limit: int) -> bool:
    """Whether ``data`` holds at most ``limit`` bytes that could open an array or a map.

    Every container starts with one such byte (bytes inside strings or numbers only add to the
    count), so the body is then no deeper than ``limit``.
    """
    if msgpack:
        return len(data) - len(data.translate(None, _MSGPACK_CONTAINER_BYTES)) <= limit
    return sum(data.count(b) for b in _JSON_OPENERS) <= limit


def value_depth(value: Any, limit: int) -> int:
    """Depth of nested lists, dicts and tuples (a scalar is 0); stops counting above ``limit``."""
    if type(value) not in _CONTAINERS:
        return 0
    deepest = 1
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > deepest:
            deepest = depth
            if deepest > limit:
                return deepest
        if type(node) is dict:
            for key, item in node.items():
                if type(key) is tuple:
                    stack.append((key, depth + 1))
                if type(item) in _CONTAINERS:
                    stack.append((item, depth + 1))
        else:
            for item in node:
                if type(item) in _CONTAINERS:
                    stack.append((item, depth + 1))
    return deepest


def check_depth(data: bytes, msgpack: bool, limit: int) -> None:
    """Raise :class:`TooDeep` if ``data`` nests deeper than ``limit``.

    Bytes that are not JSON (or msgpack) raise ``msgspec.DecodeError``, as the message decoder
    would; so does a msgpack map keyed by a map, which no message of the protocol contains.
    """
    if _openers_at_most(data, msgpack, limit):
        return
    try:
        value = (_msgpack_values if msgpack else _json_values).decode(data)
    except RecursionError:
        raise TooDeep(f"nested deeper than {limit} levels") from None
    if value_depth(value, limit) > limit:
        raise TooDeep(f"nested deeper than {limit} levels")
