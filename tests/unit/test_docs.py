"""The documentation stands on its own, its cross-references resolve, and what it says about the
Makefile and the benchmarks is what they do.

Every relative link in README.md and docs/ names a file of the repository (and, with ``#anchor``,
one of its headings); no page cites a document that is not in the repository; every ``§N``
names a section that exists (``spec §N`` one of docs/specs/sync-protocol.md, ``RFC n §N`` is left
alone, a bare ``§N`` one of the page's own numbered sections).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
SPEC = ROOT / "docs" / "specs" / "sync-protocol.md"

_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6} +(.+?) *#*$", re.M)
_FENCE = re.compile(r"^```.*?^```", re.M | re.S)
_SECTION = re.compile(r"§(\d+(?:\.\d+)*)")
_OUTSIDE = re.compile(r"DESIGN|design doc|\.\./shared", re.I)


def _name(page: Path) -> str:
    return str(page.relative_to(ROOT))


def _prose(page: Path) -> str:
    """The page without its fenced blocks (code is not a link)."""
    return _FENCE.sub("", page.read_text(encoding="utf-8"))


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {slug(h) for h in _HEADING.findall(_prose(page))}


def numbered_sections(page: Path) -> set[str]:
    """``3``, ``6.5`` … of headings such as ``## 3. Title`` or ``### 6.5 Title``."""
    return {m.group(1) for h in _HEADING.findall(_prose(page)) if (m := re.match(r"(\d+(?:\.\d+)*)\.? ", h))}


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in _LINK.findall(_prose(page)):
        if re.match(r"^[a-z]+:", target):
            continue  # http(s), mailto: outside the repository by intent
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target} (no such heading)")
    assert not broken, f"{_name(page)}: {broken}"


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_no_page_cites_a_document_outside_the_repository(page: Path) -> None:
    lines = [line for line in page.read_text(encoding="utf-8").splitlines() if _OUTSIDE.search(line)]
    assert not lines, f"{_name(page)} cites a document the repository does not have: {lines}"


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_section_references_resolve(page: Path) -> None:
    spec_sections = numbered_sections(SPEC)
    own_sections = numbered_sections(page)
    broken = []
    for line in _prose(page).splitlines():
        for match in _SECTION.finditer(line):
            before = line[max(0, match.start() - 40) : match.start()]
            if re.search(r"RFC \d+ $", before):
                continue  # a section of an RFC
            to_spec = page == SPEC or "spec" in before.lower() or "sync-protocol" in before
            if match.group(1) not in (spec_sections if to_spec else own_sections):
                broken.append(line.strip())
    assert not broken, f"{_name(page)}: section references to nowhere: {broken}"


# --- make targets and benchmarks -----------------------------------------------------------------

MAKEFILE = ROOT / "Makefile"
OPERATIONS = ROOT / "docs" / "operations.md"
README = ROOT / "README.md"


def make_targets() -> set[str]:
    return set(re.findall(r"^([a-z][\w-]*):", MAKEFILE.read_text(encoding="utf-8"), re.M))


def phony_targets() -> set[str]:
    line = re.search(r"^\.PHONY:(.*)$", MAKEFILE.read_text(encoding="utf-8"), re.M)
    assert line, "the Makefile has no .PHONY line"
    return set(line.group(1).split())


def section(page: Path, title: str) -> str:
    text = page.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


@pytest.mark.parametrize("page", [README, OPERATIONS], ids=_name)
def test_every_make_target_a_page_names_exists(page: Path) -> None:
    named = set(re.findall(r"`make (\w[\w-]*)", page.read_text(encoding="utf-8")))
    assert named, f"{_name(page)} names no make target"
    assert not named - make_targets(), (
        f"{_name(page)} names targets the Makefile lacks: {named - make_targets()}"
    )


def test_the_make_targets_table_lists_every_target() -> None:
    rows = set(re.findall(r"^\| `make (\w[\w-]*)", section(OPERATIONS, "Make targets"), re.M))
    assert rows == phony_targets() == make_targets()


def benchmarks() -> list[str]:
    """``bench.__main__.BENCHMARKS`` (importing the module runs nothing)."""
    from bench.__main__ import BENCHMARKS

    return list(BENCHMARKS)


def test_the_benchmarks_section_lists_what_make_bench_runs_in_order() -> None:
    listed = re.findall(r"^\d+\. `bench\.(\w+)`", section(OPERATIONS, "Benchmarks (`make bench`)"), re.M)
    assert listed == benchmarks()
    assert all((ROOT / "bench" / f"{name}.py").exists() for name in listed)
    recipe = re.search(r"^bench:.*\n\t(.*)$", MAKEFILE.read_text(encoding="utf-8"), re.M)
    assert recipe and recipe[1] == "$(PY) -m bench", "make bench no longer runs python -m bench"


def test_the_readme_sends_make_bench_readers_to_operations() -> None:
    text = README.read_text(encoding="utf-8")
    assert "(docs/operations.md#benchmarks-make-bench)" in text
    count = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}[len(benchmarks())]
    assert f"`make bench` runs the {count} benchmarks" in text
    assert f"`python -m bench`: the {count} benchmarks" in OPERATIONS.read_text(encoding="utf-8")


def test_the_benchmarks_page_is_what_make_bench_writes() -> None:
    """``docs/benchmarks.md`` is generated: the header, the machine, and a section per benchmark."""
    from bench.__main__ import HEADER

    text = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    assert text.startswith(HEADER)
    for key in ("date (UTC)", "CPU", "Python", "SQLite", "packages"):
        assert re.search(rf"^\| {re.escape(key)} \| .+ \|$", text, re.M), key
    assert re.findall(r"^## (\w+)", text, re.M) == benchmarks()
