"""The bridge's reference in docs/mobile-integration.md is the one rendered from the code."""

from __future__ import annotations

from pathlib import Path

from mobile_bridge import METHODS
from mobile_bridge.errors import MEANINGS, BridgeCode
from mobile_bridge.reference import render_reference

DOC = Path(__file__).resolve().parents[3] / "docs" / "mobile-integration.md"
START, END = "<!-- bridge-reference:start -->\n", "<!-- bridge-reference:end -->"


def test_the_docs_hold_the_rendered_reference() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert text[text.index(START) + len(START) : text.index(END)] == render_reference()


def test_every_method_and_code_is_in_the_reference() -> None:
    reference = render_reference()
    assert all(f"| `{name}` |" in reference for name in METHODS)
    assert set(MEANINGS) == set(BridgeCode)
    assert all(f"| `{code.value}` |" in reference for code in BridgeCode)
