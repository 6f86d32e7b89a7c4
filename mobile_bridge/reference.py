"""The bridge's reference tables for ``docs/mobile-integration.md``, rendered from the code itself
(the method registry, the payload Structs and the error codes), so the page cannot drift: a test
compares the page with :func:`render_reference`. ``python -m mobile_bridge.reference`` prints it."""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import inspect as mi

from mobile_bridge.bridge import METHODS
from mobile_bridge.errors import MEANINGS
from mobile_bridge.payloads import Event


def _type(t: mi.Type, structs: dict[str, type[Any]]) -> str:
    if isinstance(t, mi.StrType):
        return "string"
    if isinstance(t, mi.BoolType):
        return "boolean"
    if isinstance(t, mi.IntType):
        return "integer"
    if isinstance(t, mi.FloatType):
        return "number"
    if isinstance(t, mi.NoneType):
        return "null"
    if isinstance(t, mi.EnumType):
        return " \\| ".join(f'"{m.value}"' for m in t.cls)
    if isinstance(t, mi.LiteralType):
        return " \\| ".join(f'"{v}"' for v in t.values)
    if isinstance(t, mi.ListType):
        return f"[{_type(t.item_type, structs)}]"
    if isinstance(t, mi.DictType):
        return f"{{string: {_type(t.value_type, structs)}}}"
    if isinstance(t, mi.StructType):
        structs[t.cls.__name__] = t.cls
        return f"`{t.cls.__name__}`"
    if isinstance(t, mi.UnionType):
        return " \\| ".join(_type(member, structs) for member in t.types)
    raise TypeError(f"no rendering for {t!r}")


def _fields(cls: type[Any], structs: dict[str, type[Any]]) -> str:
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    parts = []
    if info.tag is not None:
        parts.append(f'{info.tag_field}: "{info.tag}"')
    for f in info.fields:
        optional = "" if f.required else "?"
        parts.append(f"{f.encode_name}{optional}: {_type(f.type, structs)}")
    return "{" + ", ".join(parts) + "}" if parts else "{}"


def render_reference() -> str:
    """The methods table, the payloads they use, and the bridge's own error codes (Markdown)."""
    structs: dict[str, type[Any]] = {}
    lines = [
        "| Method | Arguments | Result | May block | What it does |",
        "|---|---|---|---|---|",
    ]
    for m in METHODS.values():
        result = "null" if m.result is None else f"`{m.result.__name__}`"
        if m.result is not None:
            structs[m.result.__name__] = m.result
        blocks = "yes" if m.blocking else "no"
        lines.append(f"| `{m.name}` | {_fields(m.args, structs)} | {result} | {blocks} | {m.summary} |")
    lines += ["", "| Payload | Fields |", "|---|---|"]
    done: set[str] = set()
    while set(structs) - done:
        for name in sorted(set(structs) - done):
            done.add(name)
            lines.append(f"| `{name}` | {_fields(structs[name], structs)} |")
    lines.append(f"| `Event` (to the event sink) | {_fields(Event, structs)} |")
    lines += ["", "| Code | When |", "|---|---|"]
    lines += [f"| `{code.value}` | {meaning} |" for code, meaning in MEANINGS.items()]
    lines.append(
        "| *an SDK error's name in snake_case* | The SDK refused (`not_enrolled`, `key_up_before_down`,"
        " `enrollment_failed`, `device_revoked`, ...); `details` carries its fields. |"
    )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_reference(), end="")
    # Fails loudly if a payload stops being a Struct (the table would silently lose it).
    assert all(issubclass(m.args, msgspec.Struct) for m in METHODS.values())
