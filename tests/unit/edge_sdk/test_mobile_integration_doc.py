"""docs/mobile-integration.md tells the truth about ``EdgeClient``.

Its ``python`` blocks run here, in order and in one namespace, against a real store file (blocks
marked ``no-run`` need a cloud and are only compiled). Every public member of ``EdgeClient`` is
named on the page, and every ``client.<name>`` the page uses exists.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import mobile_bridge
from edge_sdk.client import EdgeClient

DOC = Path(__file__).resolve().parents[3] / "docs" / "mobile-integration.md"
_BLOCK = re.compile(r"^```python( no-run)?[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)


def _blocks() -> list[tuple[bool, str]]:
    """(runnable, code) per ``python`` block, the code padded so line numbers are the page's."""
    text = DOC.read_text(encoding="utf-8")
    found = []
    for match in _BLOCK.finditer(text):
        first_line = text.count("\n", 0, match.start(2))
        found.append((match.group(1) is None, "\n" * first_line + match.group(2)))
    return found


def test_the_examples_run_in_order(tmp_path: Path) -> None:
    blocks = _blocks()
    runnable = [code for run, code in blocks if run]
    assert len(runnable) >= 6, "the page lost its runnable examples"
    for _, code in blocks:
        compile(code, str(DOC), "exec")  # every block is valid Python, no-run ones too
    namespace: dict[str, Any] = {"app_files_dir": str(tmp_path)}
    try:
        for code in runnable:
            exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102 (the page's own examples)
    except BaseException:
        client = namespace.get("client")
        if isinstance(client, EdgeClient):
            client.close()
        raise
    assert (tmp_path / "empathic-credit.db").exists()


def _public_members() -> set[str]:
    return {name for name in dir(EdgeClient) if not name.startswith("_")}


def test_every_public_member_of_the_client_is_named() -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = sorted(n for n in _public_members() if f"{n}(" not in text and f"`{n}`" not in text)
    assert not missing, f"EdgeClient members docs/mobile-integration.md does not describe: {missing}"


def test_every_client_member_the_page_uses_exists() -> None:
    used = set(re.findall(r"(?<![\w.])client\.(\w+)", DOC.read_text(encoding="utf-8")))
    assert used, "the page names no client member"
    unknown = sorted(used - _public_members())
    assert not unknown, f"the page uses members EdgeClient lacks: {unknown}"


def test_the_page_describes_every_public_function_of_the_bridge() -> None:
    text = DOC.read_text(encoding="utf-8")
    public = [n for n in mobile_bridge.__all__ if callable(getattr(mobile_bridge, n)) and n != "Bridge"]
    assert public and all(f"{name}(" in text for name in public), public
    assert "empty package" not in text
