"""The extras tell the truth: every third-party distribution a side imports is required by its
install (pyproject.toml), and the edge install stands alone: nothing of the cloud or TensorFlow
comes with it, and the committed model does.

Without the network: the import closure of each side's entry modules is read statically (grimp,
as `lint-imports` does; imports inside functions count, ``if TYPE_CHECKING:`` ones do not), each
third-party top-level module is mapped to the installed distribution that provides it
(``importlib.metadata.packages_distributions``), and that distribution must be in the requirement
closure of the install: the base dependencies plus the extra, followed through the installed
distributions' own requirements (their extras and environment markers evaluated here).
"""

from __future__ import annotations

import fnmatch
import functools
import importlib.metadata as metadata
import sys
import tomllib
from collections.abc import Iterable
from pathlib import Path

import grimp
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from edge_sdk.inference.backends import _INTERPRETER_MODULES

ROOT = Path(__file__).resolve().parents[2]
OWN = ("sync", "edge_sdk", "mobile_bridge", "cloud", "models", "bench", "ecs")

# side -> (its entry modules, the extras of its install)
SIDES = {
    "cloud": (("cloud.app", "cloud.workers", "cloud.runner", "cloud.seed"), ("cloud",)),
    "edge": (("edge_sdk", "mobile_bridge"), ("edge", "edge-litert", "edge-tflite")),
    "sync": (("sync",), ()),
    "ecs": (("ecs.cli",), ("ecs",)),
}
BY_NAME = {"edge": {m.split(".")[0] for m in _INTERPRETER_MODULES.values()}}
"""Modules a side imports by name at run time (``importlib.import_module``), which a static walk
cannot see: the SDK's interpreter runtimes. A runtime not installed here is not an error (the SDK
answers ``BackendUnavailable``); an installed one must be required."""


@functools.cache
def _graph() -> grimp.ImportGraph:
    return grimp.build_graph(
        *OWN, include_external_packages=True, exclude_type_checking_imports=True, cache_dir=None
    )


def third_party_imports(entries: Iterable[str]) -> set[str]:
    """Top-level names of the non-project, non-stdlib modules the entries import, directly or
    through other project modules."""
    graph = _graph()
    reached: set[str] = set()
    for entry in entries:
        reached |= graph.find_upstream_modules(entry, as_package=True)
    names = {m.split(".")[0] for m in reached}
    return {n for n in names if n not in OWN and n not in sys.stdlib_module_names}


def _project() -> tuple[list[str], dict[str, list[str]]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return project["dependencies"], project["optional-dependencies"]


def _wanted(requirement: Requirement, extras: frozenset[str]) -> bool:
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({"extra": extra}) for extra in extras | {""})


@functools.cache
def _closure_of_distribution(name: str, extras: frozenset[str]) -> frozenset[str]:
    """``name`` and every distribution it requires (with ``extras``), transitively."""
    found = {canonicalize_name(name)}
    try:
        requires = metadata.requires(name) or []
    except metadata.PackageNotFoundError:
        return frozenset(found)  # not installed here (e.g. excluded by a marker): nothing to follow
    for line in requires:
        requirement = Requirement(line)
        if _wanted(requirement, extras):
            found |= _closure_of_distribution(requirement.name, frozenset(requirement.extras))
    return frozenset(found)


def install_closure(extras: Iterable[str]) -> set[str]:
    """Every distribution ``pip install empathic-credit[extras]`` brings in (as installed here)."""
    base, optional = _project()
    lines = list(base)
    for extra in extras:
        lines += optional[extra]
    found: set[str] = set()
    for line in lines:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate():
            found |= _closure_of_distribution(requirement.name, frozenset(requirement.extras))
    return found


def distributions_of(modules: Iterable[str]) -> dict[str, set[str]]:
    """Each top-level module -> the installed distributions that provide it (empty if none)."""
    provided = metadata.packages_distributions()
    return {m: {canonicalize_name(d) for d in provided.get(m, [])} for m in sorted(modules)}


@pytest.mark.parametrize("side", sorted(SIDES))
def test_every_imported_distribution_is_required_by_the_install(side: str) -> None:
    entries, extras = SIDES[side]
    required = install_closure(extras)
    by_name = distributions_of(BY_NAME.get(side, set()))
    imported = distributions_of(third_party_imports(entries)) | {m: d for m, d in by_name.items() if d}
    undeclared = {
        module: sorted(dists) or ["(no installed distribution provides it)"]
        for module, dists in imported.items()
        if not dists & required
    }
    install = f"empathic-credit[{','.join(extras)}]" if extras else "empathic-credit"
    assert undeclared == {}, f"{side} imports what {install} does not install: {undeclared}"


def test_the_edge_install_brings_nothing_of_the_cloud_or_training() -> None:
    """Nothing only the cloud or training needs (litestar, arq, TensorFlow ...) comes with the edge,
    and the core extra (a phone whose host runs the model) brings no Python TFLite runtime either."""
    _, optional = _project()
    direct = {extra: {canonicalize_name(Requirement(r).name) for r in optional[extra]} for extra in optional}
    others = (direct["cloud"] | direct["train"]) - direct["edge"]
    for extras in (["edge"], ["edge", "edge-litert"], ["edge", "edge-tflite"]):
        assert install_closure(extras) & others == set(), extras
    runtimes = {"ai-edge-litert", "tflite-runtime", "tensorflow", "tensorflow-cpu"}
    assert install_closure(["edge"]) & runtimes == set()
    assert "ai-edge-litert" in direct["edge-litert"] and "tflite-runtime" in direct["edge-tflite"]


def test_the_walk_sees_imports_inside_functions_and_through_project_modules() -> None:
    """The walk is worth something: rich is imported only inside a function of cloud.seed, numpy by
    the seed and, through the analytics services, by the app and the worker."""
    assert {"rich", "numpy"} <= third_party_imports(["cloud.seed"])
    assert "numpy" in third_party_imports(["cloud.app"]) & third_party_imports(["cloud.workers"])
    assert {"numpy", "sqlite_utils", "httpx"} <= third_party_imports(["edge_sdk"])
    assert third_party_imports(["sync"]) == {"msgspec", "cryptography"}
    assert BY_NAME["edge"] == {"ai_edge_litert", "tflite_runtime"}


def test_the_install_carries_the_committed_model() -> None:
    """The SDK loads edge_sdk/inference/artifacts by default; setuptools ships non-Python files only
    as declared package data, so every committed artifact must match a pattern of it."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    patterns = data["package-data"]["edge_sdk"]
    folder = ROOT / "edge_sdk" / "inference" / "artifacts"
    artifacts = [p.relative_to(ROOT / "edge_sdk").as_posix() for p in folder.iterdir()]
    assert artifacts
    assert [a for a in artifacts if not any(fnmatch.fnmatch(a, p) for p in patterns)] == []
