"""Every way a model is refused, each with its named error; a refused model never replaces the
serving one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from edge_sdk.features.spec import FEATURE_NAMES
from edge_sdk.inference import (
    FeatureSpecMismatch,
    InferenceEngine,
    InvalidFeatures,
    ManifestInvalid,
    ModelError,
    ModelHashMismatch,
    ModelLoader,
    ModelSignatureMismatch,
    NoModelLoaded,
    ProbeMismatch,
    UnknownModelVersion,
    UnknownVariant,
)
from edge_sdk.inference.manifest import sha256_hex

Mutate = Callable[[Callable[[dict[str, Any]], None]], bytes]


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(manifest: dict[str, Any]) -> None:
        target = manifest
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def _float_entry(manifest: dict[str, Any]) -> dict[str, Any]:
    return next(e for e in manifest["files"] if e["variant"] == "float")


MANIFEST_REFUSALS: list[tuple[str, Callable[[dict[str, Any]], None], type[ModelError], str]] = [
    ("unknown format", _set(("format",), 2), UnknownModelVersion, "format 2"),
    ("new major version", _set(("model_version",), "emotion-v2.0.0"), UnknownModelVersion, "major version 2"),
    ("malformed version", _set(("model_version",), "latest"), UnknownModelVersion, "not emotion-v"),
    (
        "renamed outputs",
        lambda m: m["outputs"][0].update(name="stress_prob"),
        UnknownModelVersion,
        "outputs",
    ),
    (
        "other feature spec",
        _set(("feature_spec_version",), "features-v0"),
        FeatureSpecMismatch,
        "features-v0",
    ),
    (
        "reordered features",
        lambda m: m["feature_names"].reverse(),
        FeatureSpecMismatch,
        "expects features",
    ),
    ("missing field", lambda m: m.pop("normalisation"), ManifestInvalid, "normalisation"),
    ("zero std", lambda m: m["normalisation"]["std"].__setitem__(0, 0.0), ManifestInvalid, "positive"),
    ("short mean", lambda m: m["normalisation"]["mean"].pop(), ManifestInvalid, "one mean"),
    ("probe without outputs", lambda m: m["probe"]["outputs"].pop(), ManifestInvalid, "probe"),
    ("probe row width", lambda m: m["probe"]["inputs"][0].pop(), ManifestInvalid, "probe rows"),
    ("bad sha256 syntax", lambda m: _float_entry(m).update(sha256="xyz"), ManifestInvalid, "sha256"),
    (
        "wrong hash",
        lambda m: _float_entry(m).update(sha256="0" * 64),
        ModelHashMismatch,
        "does not match",
    ),
    (
        "probe outputs differ",
        lambda m: m["probe"]["outputs"][0].__setitem__(0, m["probe"]["outputs"][0][0] + 0.5),
        ProbeMismatch,
        "probe error",
    ),
    (
        "signature shape differs",
        lambda m: _float_entry(m)["inputs"][0].update(shape=[-1, 17]),
        ModelSignatureMismatch,
        "signature",
    ),
    (
        "signature dtype differs",
        lambda m: _float_entry(m)["outputs"][0].update(dtype="int8"),
        ModelSignatureMismatch,
        "signature",
    ),
]


@pytest.fixture
def engine(manifest_bytes: bytes, model_files: dict[str, bytes]) -> InferenceEngine:
    engine = InferenceEngine(ModelLoader("litert"))
    engine.install(manifest_bytes, model_files["float"])
    return engine


def _assert_still_serving(engine: InferenceEngine, before: Any, expected: NDArray[np.float32]) -> None:
    assert engine.model is before
    window = np.asarray(engine.model.manifest.probe.inputs[:2], dtype=np.float32)
    np.testing.assert_array_equal(engine.score(window).stress, expected)


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [case[1:] for case in MANIFEST_REFUSALS],
    ids=[case[0] for case in MANIFEST_REFUSALS],
)
def test_bad_manifest_is_refused_and_the_good_model_keeps_serving(
    engine: InferenceEngine,
    mutate: Mutate,
    model_files: dict[str, bytes],
    change: Callable[[dict[str, Any]], None],
    error: type[ModelError],
    message: str,
) -> None:
    before = engine.model
    assert before is not None
    expected = engine.score(np.asarray(before.manifest.probe.inputs[:2], dtype=np.float32)).stress
    with pytest.raises(error, match=message):
        engine.install(mutate(change), model_files["float"])
    _assert_still_serving(engine, before, expected)


def test_manifest_that_is_not_json_is_refused(engine: InferenceEngine, model_files: dict[str, bytes]) -> None:
    with pytest.raises(ManifestInvalid, match="does not decode"):
        engine.install(b"{not json", model_files["float"])


def test_corrupted_model_file_is_refused(
    engine: InferenceEngine, manifest_bytes: bytes, model_files: dict[str, bytes]
) -> None:
    before = engine.model
    corrupted = bytearray(model_files["float"])
    corrupted[len(corrupted) // 2] ^= 0xFF
    with pytest.raises(ModelHashMismatch) as caught:
        engine.install(manifest_bytes, bytes(corrupted))
    assert caught.value.variant == "float" and caught.value.actual == sha256_hex(bytes(corrupted))
    assert engine.model is before


def test_other_variants_file_is_refused(
    engine: InferenceEngine, manifest_bytes: bytes, model_files: dict[str, bytes]
) -> None:
    with pytest.raises(ModelHashMismatch):
        engine.install(manifest_bytes, model_files["int8"], "float")


def test_unloadable_file_with_a_matching_hash_is_refused(
    engine: InferenceEngine, mutate: Mutate, model_files: dict[str, bytes]
) -> None:
    garbage = b"\x00not a flatbuffer" * 8
    bad_manifest = mutate(lambda m: _float_entry(m).update(sha256=sha256_hex(garbage)))
    before = engine.model
    with pytest.raises(ModelSignatureMismatch, match="cannot load"):
        engine.install(bad_manifest, garbage)
    assert engine.model is before


def test_file_whose_weights_differ_is_caught_by_the_probe(
    engine: InferenceEngine, mutate: Mutate, model_files: dict[str, bytes]
) -> None:
    # A structurally valid file computing something else (here: the int8 file declared as float,
    # its hash and signature made to match) must not pass: the probe catches it.
    int8 = model_files["int8"]

    def disguise(m: dict[str, Any]) -> None:
        entry = _float_entry(m)
        int8_entry = next(e for e in m["files"] if e["variant"] == "int8")
        entry.update(sha256=sha256_hex(int8), inputs=int8_entry["inputs"], outputs=int8_entry["outputs"])
        m["probe"]["outputs"] = [[v + 0.3 for v in row] for row in m["probe"]["outputs"]]

    with pytest.raises(ProbeMismatch):
        engine.install(mutate(disguise), int8, "float")


def test_unknown_variant_is_refused(engine: InferenceEngine, manifest_bytes: bytes) -> None:
    with pytest.raises(UnknownVariant, match="fp16"):
        engine.install(manifest_bytes, b"", "fp16")


def test_manifest_naming_a_file_outside_its_folder_is_refused(
    tmp_path: Path, mutate: Mutate, model_files: dict[str, bytes]
) -> None:
    (tmp_path / "manifest.json").write_bytes(mutate(lambda m: _float_entry(m).update(path="../x.tflite")))
    with pytest.raises(ManifestInvalid, match="plain file name"):
        ModelLoader().load_directory(tmp_path)


def test_install_directory(tmp_path: Path, manifest_bytes: bytes, model_files: dict[str, bytes]) -> None:
    (tmp_path / "manifest.json").write_bytes(manifest_bytes)
    (tmp_path / "emotion-v1-int8.tflite").write_bytes(model_files["int8"])
    engine = InferenceEngine()
    model = engine.install_directory(tmp_path, "int8")
    assert engine.model is model and model.variant == "int8"


def test_score_before_install_is_refused() -> None:
    with pytest.raises(NoModelLoaded):
        InferenceEngine().score(np.zeros((1, len(FEATURE_NAMES)), dtype=np.float32))


@pytest.mark.parametrize(
    ("features", "message"),
    [
        (np.zeros((2, len(FEATURE_NAMES) - 1)), "shaped"),
        (np.zeros(len(FEATURE_NAMES)), "shaped"),
        (np.full((1, len(FEATURE_NAMES)), np.nan), "NaN"),
        (np.full((1, len(FEATURE_NAMES)), np.inf), "NaN"),
        ([["a"] * len(FEATURE_NAMES)], "not numeric"),
    ],
)
def test_invalid_features_are_refused(engine: InferenceEngine, features: Any, message: str) -> None:
    with pytest.raises(InvalidFeatures, match=message):
        engine.score(features)
