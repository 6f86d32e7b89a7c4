"""The committed model files in both Python runtimes: probe outputs, agreement, batching."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from edge_sdk.features.spec import FEATURE_NAMES, FEATURE_SPEC_VERSION
from edge_sdk.inference import (
    MAX_BATCH,
    OUTPUT_NAMES,
    LiteRTBackend,
    ModelLoader,
    TFLiteRuntimeBackend,
    decode_manifest,
)
from edge_sdk.inference.manifest import sha256_hex
from models.synthetic import generate

RUNTIMES = ["litert", "tflite-runtime"]
VARIANTS = ["float", "int8"]


@pytest.fixture(scope="module")
def windows() -> NDArray[np.float32]:
    return generate(n_users=30, windows_per_user=20, seed=7).features


def test_manifest_describes_the_committed_files(model_dir: Path, manifest_bytes: bytes) -> None:
    manifest = decode_manifest(manifest_bytes)
    assert manifest.feature_spec_version == FEATURE_SPEC_VERSION
    assert manifest.feature_names == FEATURE_NAMES
    assert sorted(f.variant for f in manifest.files) == sorted(VARIANTS)
    for entry in manifest.files:
        content = (model_dir / entry.path).read_bytes()
        assert sha256_hex(content) == entry.sha256
        assert len(content) == entry.size_bytes < 100_000
        assert [t.name for t in entry.outputs] == list(OUTPUT_NAMES)
        assert entry.inputs[0].shape == (-1, len(FEATURE_NAMES))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_runtime_reproduces_the_probe_outputs(
    runtime: str, variant: str, manifest_bytes: bytes, model_files: dict[str, bytes]
) -> None:
    model = ModelLoader(runtime).load(manifest_bytes, model_files[variant], variant)  # type: ignore[arg-type]
    assert isinstance(model.backend, LiteRTBackend if runtime == "litert" else TFLiteRuntimeBackend)
    manifest = json.loads(manifest_bytes)
    expected = np.asarray(manifest["probe"]["outputs"], dtype=np.float32)
    actual = model.predict_raw(np.asarray(manifest["probe"]["inputs"], dtype=np.float32))
    error = np.max(np.abs(actual - expected))
    # Float reproduces the training framework to rounding; int8 within its quantisation error.
    assert error <= (1e-4 if variant == "float" else 0.15)
    if variant == "int8":
        assert error > 0.0  # it really is the quantised file


@pytest.mark.parametrize("variant", VARIANTS)
def test_both_runtimes_agree(
    variant: str, manifest_bytes: bytes, model_files: dict[str, bytes], windows: NDArray[np.float32]
) -> None:
    litert = ModelLoader("litert").load(manifest_bytes, model_files[variant], variant)
    tflite = ModelLoader("tflite-runtime").load(manifest_bytes, model_files[variant], variant)
    a, b = litert.predict_raw(windows), tflite.predict_raw(windows)
    # int8 kernels may round one quantisation step apart between runtime versions.
    assert np.max(np.abs(a - b)) <= (1e-5 if variant == "float" else 0.0079)


def test_int8_follows_float(
    manifest_bytes: bytes, model_files: dict[str, bytes], windows: NDArray[np.float32]
) -> None:
    full = ModelLoader("litert").load(manifest_bytes, model_files["float"], "float").predict_raw(windows)
    quantised = ModelLoader("litert").load(manifest_bytes, model_files["int8"], "int8").predict_raw(windows)
    assert np.mean(np.abs(full - quantised)) < 0.02


def test_scores_are_batched_and_in_range(
    manifest_bytes: bytes, model_files: dict[str, bytes], windows: NDArray[np.float32]
) -> None:
    model = ModelLoader("litert").load(manifest_bytes, model_files["int8"], "int8")
    assert len(windows) > 2 * MAX_BATCH
    scores = model.score(windows)
    assert len(scores) == len(windows)
    assert scores.model_version == "emotion-v1.0.0" and scores.variant == "int8"
    assert np.all((scores.stress >= 0) & (scores.stress <= 1))
    assert np.all((scores.valence >= -1) & (scores.valence <= 1))
    assert np.all((scores.arousal >= -1) & (scores.arousal <= 1))
    # A queued backlog scored at once equals the windows scored one by one.
    one_by_one = np.concatenate([model.score(windows[i : i + 1]).stress for i in range(0, len(windows), 97)])
    np.testing.assert_array_equal(one_by_one, scores.stress[::97])


def test_empty_batch_gives_empty_scores(manifest_bytes: bytes, model_files: dict[str, bytes]) -> None:
    model = ModelLoader("tflite-runtime").load(manifest_bytes, model_files["float"], "float")
    scores = model.score(np.zeros((0, len(FEATURE_NAMES)), dtype=np.float32))
    assert len(scores) == 0 and scores.valence.shape == (0,)


def test_stress_scores_follow_the_synthetic_label(
    manifest_bytes: bytes, model_files: dict[str, bytes]
) -> None:
    data = generate(n_users=40, windows_per_user=30, seed=99)
    scores = ModelLoader("litert").load(manifest_bytes, model_files["float"], "float").score(data.features)
    assert scores.stress[data.stress == 1].mean() > scores.stress[data.stress == 0].mean() + 0.1
