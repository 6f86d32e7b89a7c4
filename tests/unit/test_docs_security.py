"""docs/security.md names a test for every control it claims: each named test exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SECURITY = ROOT / "docs" / "security.md"
_NAMED = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)`")


def test_every_control_names_a_test_that_exists() -> None:
    named = _NAMED.findall(SECURITY.read_text(encoding="utf-8"))
    assert len(named) >= 25
    missing = []
    for path, test in named:
        source = ROOT / path
        if not source.exists() or not re.search(rf"^(async )?def {test}\(", source.read_text(), re.M):
            missing.append(f"{path}::{test}")
    assert missing == []


def test_every_threat_of_the_model_has_its_section() -> None:
    headings = re.findall(r"^## (.+)$", SECURITY.read_text(encoding="utf-8"), re.M)
    for threat in (
        "Stolen phone",
        "Stolen device token",
        "Malicious or careless operator",
        "Replay",
        "Model tampering",
        "Exposed Redis",
        "Leaked backup or database",
    ):
        assert threat in headings
