"""The layers written down in docs/architecture.md are the layers `lint-imports` checks
(.importlinter), and every module of the cloud sits in one of them.

`lint-imports` itself (in `make lint`) checks the imports; this checks that the contract and its
description agree, and that no module escapes the layering by being listed nowhere.
"""

from __future__ import annotations

import ast
import configparser
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / ".importlinter"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
LAYERS_CONTRACT = "importlinter:contract:cloud-layers"

UNLAYERED = {
    "cloud.store": "open_store, the factory that picks an engine: it imports the engine (store layer) "
    "and is imported for the interface (domain layer); the store contracts cover it",
}
"""Modules with imports that are deliberately in no layer, and why."""


def _contracts() -> configparser.ConfigParser:
    config = configparser.ConfigParser()
    config.read_string(CONTRACTS.read_text(encoding="utf-8"))
    return config


def contract_layers() -> tuple[list[str], list[set[str]]]:
    """The layer names of the contract's ``name`` and the modules of each of its layers."""
    section = _contracts()[LAYERS_CONTRACT]
    names = [n.strip() for n in section["name"].split(":", 1)[1].split(">")]
    layers = [{m.strip() for m in re.split(r"[|:]", line)} for line in section["layers"].strip().splitlines()]
    return names, layers


def doc_layers() -> list[str]:
    """The first column of the table in the "Layers" section of docs/architecture.md."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    section = text.split("\n## Layers\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    assert rows and rows[0].startswith("| layer |"), "no layer table in the Layers section"
    return [row.split("|")[1].strip() for row in rows[1:]]


def test_the_doc_names_the_contracts_layers_in_order() -> None:
    names, layers = contract_layers()
    assert len(names) == len(layers), "the contract's name lists one name per layer"
    assert doc_layers() == names


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports_anything(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(
        isinstance(node, ast.Import | ast.ImportFrom)
        and not (isinstance(node, ast.ImportFrom) and node.module == "__future__")
        for node in ast.walk(tree)
    )


def test_every_cloud_module_is_in_a_layer() -> None:
    _, layers = contract_layers()
    listed = set().union(*layers)

    def covered(module: str) -> bool:
        return any(module == m or module.startswith(m + ".") for m in listed)

    loose = sorted(
        name
        for path in (ROOT / "cloud").rglob("*.py")
        if not covered(name := _module_name(path))
        and name not in UNLAYERED
        # A package's __init__ holding only its docstring needs no layer.
        and _imports_anything(path)
    )
    assert loose == [], f"modules in no layer of {CONTRACTS.name} (add them to one): {loose}"


def test_the_contracts_ignore_imports_each_say_why() -> None:
    """Every ``ignore_imports`` entry is a known violation; the line above it says why."""
    lines = CONTRACTS.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if "->" in line and not line.lstrip().startswith("#"):
            above = next(prev for prev in reversed(lines[:i]) if "->" not in prev or "#" in prev)
            assert above.lstrip().startswith("#"), f"no reason given above the ignored import {line.strip()}"
