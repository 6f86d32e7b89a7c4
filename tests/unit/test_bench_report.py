"""``python -m bench`` writes what each benchmark printed, under the machine it ran on."""

from __future__ import annotations

import re

from bench.__main__ import HEADER, Section, machine, render


def test_render_keeps_each_output_whole_and_marks_a_stopped_benchmark() -> None:
    facts = [("date (UTC)", "2026-01-02 03:04"), ("CPU", "a CPU, 2 CPU(s)")]
    text = render([Section("one", 0, "a table\n  │ 1 │\n"), Section("two", 1, "stopped: why\n")], facts)
    assert text.startswith(HEADER + "\n")
    assert "| date (UTC) | 2026-01-02 03:04 |\n| CPU | a CPU, 2 CPU(s) |" in text
    assert "## one\n\n```text\na table\n  │ 1 │\n```" in text
    assert "## two (stopped: exit status 1)\n\n```text\nstopped: why\n```" in text


def test_machine_names_the_date_python_sqlite_and_package_versions() -> None:
    facts = dict(machine())
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", facts["date (UTC)"])
    assert re.search(r"litestar \d", facts["packages"]) and re.search(r"msgspec \d", facts["packages"])
    assert re.fullmatch(r"3\.\d+\.\d+", facts["Python"])
    assert re.fullmatch(r"\d+\.\d+\.\d+", facts["SQLite"])
