"""The committed model, read once, and a fixture that builds bad variants of its manifest."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edge_sdk.inference import MANIFEST_FILE, committed_model_dir


@pytest.fixture(scope="session")
def model_dir() -> Path:
    return committed_model_dir()


@pytest.fixture(scope="session")
def manifest_bytes(model_dir: Path) -> bytes:
    return (model_dir / MANIFEST_FILE).read_bytes()


@pytest.fixture(scope="session")
def model_files(model_dir: Path, manifest_bytes: bytes) -> dict[str, bytes]:
    """Variant → bytes of the committed ``.tflite`` file."""
    manifest = json.loads(manifest_bytes)
    return {entry["variant"]: (model_dir / entry["path"]).read_bytes() for entry in manifest["files"]}


@pytest.fixture
def mutate(manifest_bytes: bytes) -> Callable[[Callable[[dict[str, Any]], None]], bytes]:
    """``mutate(change)`` → the committed manifest's bytes after ``change(manifest_dict)``."""

    def apply(change: Callable[[dict[str, Any]], None]) -> bytes:
        manifest = json.loads(manifest_bytes)
        change(manifest)
        return json.dumps(manifest).encode()

    return apply
