"""The metrics are declared once: the table of docs/operations.md is theirs, and no label can hold an id."""

from __future__ import annotations

from pathlib import Path

from cloud.metrics import DECLARED, render_table

OPERATIONS = Path(__file__).resolve().parents[3] / "docs" / "operations.md"
START = "<!-- metrics-table:start (rendered from cloud/metrics.py) -->\n"
END = "<!-- metrics-table:end -->"

# Each of these has a small, fixed set of values (route templates, statuses, kinds, codes, bands).
BOUNDED_LABELS = {
    "method",
    "route",
    "scope",
    "status",
    "code",
    "job",
    "outcome",
    "sender",
    "risk_band",
    "window",
    "kind",
    "state",
}


def test_the_docs_table_is_rendered_from_the_declarations() -> None:
    text = OPERATIONS.read_text()
    assert text[text.index(START) + len(START) : text.index(END)] == render_table()


def test_metrics_are_named_once_and_labelled_by_bounded_sets_only() -> None:
    names = [m.name for m in DECLARED]
    assert len(names) == len(set(names)) >= 15
    assert all(name.startswith("ec_") for name in names)
    for metric in DECLARED:
        assert set(metric.labels) <= BOUNDED_LABELS, metric
        assert not any("id" in label.split("_") for label in metric.labels), metric
