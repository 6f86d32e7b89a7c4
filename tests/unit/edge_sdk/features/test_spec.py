"""The feature spec and docs/features.md agree, feature by feature and in order."""

from __future__ import annotations

import re
from pathlib import Path

from edge_sdk.features import FEATURE_INDEX, FEATURE_NAMES, FEATURE_SPEC, FEATURE_SPEC_VERSION, N_FEATURES
from edge_sdk.features.spec import render_feature_table

DOC = Path(__file__).resolve().parents[4] / "docs" / "features.md"
START, END = "<!-- feature-table:start -->\n", "<!-- feature-table:end -->"


def doc_table() -> str:
    text = DOC.read_text(encoding="utf-8")
    return text[text.index(START) + len(START) : text.index(END)]


def test_spec_has_at_least_twelve_uniquely_named_features() -> None:
    assert N_FEATURES >= 12
    assert len(set(FEATURE_NAMES)) == N_FEATURES
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", name) for name in FEATURE_NAMES)
    assert all(feature.unit and feature.definition for feature in FEATURE_SPEC)
    assert [FEATURE_INDEX[name] for name in FEATURE_NAMES] == list(range(N_FEATURES))


def test_spec_version() -> None:
    assert FEATURE_SPEC_VERSION == "features-v1"


def test_doc_lists_exactly_the_spec_names_in_order() -> None:
    names = re.findall(r"^\| \d+ \| `([a-z0-9_]+)` \|", doc_table(), flags=re.MULTILINE)
    assert names == list(FEATURE_NAMES)


def test_doc_table_is_the_rendered_spec() -> None:
    assert doc_table() == render_feature_table()


def test_doc_names_the_spec_version() -> None:
    assert f"`{FEATURE_SPEC_VERSION}`" in DOC.read_text(encoding="utf-8")
