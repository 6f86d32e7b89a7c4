"""Verified model loading and batched window scoring.

:class:`ModelLoader` checks, in order, before a model may serve:

1. the manifest decodes, its format and the model's major version are known
   (:class:`ManifestInvalid`, :class:`UnknownModelVersion`);
2. its feature spec version and feature names are exactly the SDK's
   (:class:`FeatureSpecMismatch`);
3. the file's SHA-256 is the manifest's (:class:`ModelHashMismatch`);
4. the runtime loads it and finds the manifest's ``serving_default`` inputs and outputs
   (:class:`ModelSignatureMismatch`);
5. the runtime reproduces the manifest's probe outputs within the file's tolerance
   (:class:`ProbeMismatch`) — a file converted without its weights fails here, not in production.

:class:`InferenceEngine` holds the serving model; :meth:`InferenceEngine.install` swaps a new one in
only after all of the above passed, so a bad model never replaces a good one.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
from numpy.typing import NDArray

from edge_sdk.inference.backends import BackendChoice, InferenceBackend, check_batch, make_backend
from edge_sdk.inference.errors import (
    FeatureSpecMismatch,
    ManifestInvalid,
    ModelHashMismatch,
    ModelSignatureMismatch,
    NoModelLoaded,
    ProbeMismatch,
)
from edge_sdk.inference.manifest import Manifest, decode_manifest, sha256_hex

MANIFEST_FILE: Final = "manifest.json"
MAX_BATCH: Final = 256
"""Windows per runtime call: queued windows are scored in batches of at most this many, so a long
offline backlog never asks the runtime for one huge tensor."""


@dataclass(frozen=True, slots=True)
class WindowScores:
    """Model outputs for ``n`` windows, one float32 array of length ``n`` each."""

    stress: NDArray[np.float32]
    """Probability that the window is a high-stress one, in [0, 1]."""
    valence: NDArray[np.float32]
    """Unpleasant (-1) to pleasant (+1)."""
    arousal: NDArray[np.float32]
    """Calm (-1) to activated (+1)."""
    model_version: str
    variant: str

    def __len__(self) -> int:
        return int(self.stress.shape[0])


def _expected_features() -> tuple[str, tuple[str, ...]]:
    # Imported late so this module stays importable (and its errors testable) while the feature
    # package is being changed; the spec is what the SDK computes, hence what a model must accept.
    from edge_sdk.features.spec import FEATURE_SPEC, FEATURE_SPEC_VERSION

    return str(FEATURE_SPEC_VERSION), tuple(f.name for f in FEATURE_SPEC)


class EmotionModel:
    """A verified model loaded in one backend. Build it with :class:`ModelLoader`."""

    def __init__(self, manifest: Manifest, variant: str, backend: InferenceBackend) -> None:
        self.manifest = manifest
        self.variant = variant
        self.backend = backend
        self.sha256 = manifest.file(variant).sha256
        self._mean = np.asarray(manifest.normalisation.mean, dtype=np.float32)
        self._inv_std = (1.0 / np.asarray(manifest.normalisation.std, dtype=np.float64)).astype(np.float32)

    @property
    def model_version(self) -> str:
        return self.manifest.model_version

    def predict_raw(self, features: NDArray[np.float32] | Sequence[Sequence[float]]) -> NDArray[np.float32]:
        """``(n, 3)`` outputs for raw feature vectors (normalised here from the manifest)."""
        n_features = self.manifest.n_features
        batch = check_batch(features, n_features)
        normalised = (batch - self._mean) * self._inv_std
        parts = [
            self.backend.predict(np.ascontiguousarray(normalised[start : start + MAX_BATCH]))
            for start in range(0, batch.shape[0], MAX_BATCH)
        ]
        if not parts:
            return np.zeros((0, 3), dtype=np.float32)
        return np.concatenate(parts, axis=0)

    def score(self, features: NDArray[np.float32] | Sequence[Sequence[float]]) -> WindowScores:
        """Scores for ``(n, F)`` raw feature vectors in the feature spec's order."""
        out = self.predict_raw(features)
        # Clipped to the documented ranges: int8 rounding can step a hair past them.
        return WindowScores(
            stress=np.clip(out[:, 0], 0.0, 1.0),
            valence=np.clip(out[:, 1], -1.0, 1.0),
            arousal=np.clip(out[:, 2], -1.0, 1.0),
            model_version=self.model_version,
            variant=self.variant,
        )


class ModelLoader:
    """Verifies a manifest and model file and loads them into a fresh backend."""

    def __init__(self, backend: BackendChoice = "auto") -> None:
        self._backend = backend

    def verify_manifest(self, manifest_bytes: bytes) -> Manifest:
        """Steps 1-2: the manifest itself and its feature spec against the SDK's."""
        manifest = decode_manifest(manifest_bytes)
        spec_version, names = _expected_features()
        if manifest.feature_spec_version != spec_version:
            raise FeatureSpecMismatch(
                f"model {manifest.model_version} was trained on feature spec "
                f"{manifest.feature_spec_version}, the SDK computes {spec_version}"
            )
        if manifest.feature_names != names:
            raise FeatureSpecMismatch(
                f"model {manifest.model_version} expects features {list(manifest.feature_names)}, "
                f"the SDK computes {list(names)}"
            )
        return manifest

    def load(self, manifest_bytes: bytes, model_bytes: bytes, variant: str = "float") -> EmotionModel:
        """Verify everything, then return the loaded model. Nothing is changed on failure."""
        manifest = self.verify_manifest(manifest_bytes)
        entry = manifest.file(variant)
        actual = sha256_hex(model_bytes)
        if actual != entry.sha256:
            raise ModelHashMismatch(variant, entry.sha256, actual)
        backend = make_backend(self._backend)
        backend.load(model_bytes)
        signature = backend.signature()
        if signature is not None and (signature.inputs, signature.outputs) != (entry.inputs, entry.outputs):
            raise ModelSignatureMismatch(
                f"the {variant} file's signature {signature} is not the manifest's "
                f"(inputs {entry.inputs}, outputs {entry.outputs})"
            )
        model = EmotionModel(manifest, variant, backend)
        _check_probe(model, entry.probe_atol)
        return model

    def load_directory(self, folder: str | Path, variant: str = "float") -> EmotionModel:
        """Load ``manifest.json`` and the ``variant`` file it names from ``folder``."""
        folder = Path(folder)
        manifest_bytes = (folder / MANIFEST_FILE).read_bytes()
        manifest = self.verify_manifest(manifest_bytes)
        path = manifest.file(variant).path
        if Path(path).name != path:
            raise ManifestInvalid(f"model file {path!r} must be a plain file name next to the manifest")
        return self.load(manifest_bytes, (folder / path).read_bytes(), variant)


def _check_probe(model: EmotionModel, atol: float) -> None:
    probe = model.manifest.probe
    expected = np.asarray(probe.outputs, dtype=np.float32)
    actual = model.predict_raw(probe.inputs)
    error = float(np.max(np.abs(actual - expected)))
    if not error <= atol:  # also catches NaN
        raise ProbeMismatch(
            f"{model.backend.name} runs {model.model_version} ({model.variant}) with a probe error of "
            f"{error:.6f} > {atol}"
        )


class InferenceEngine:
    """The serving model, replaced only by a model that passed every check."""

    def __init__(self, loader: ModelLoader | None = None) -> None:
        self._loader = loader or ModelLoader()
        self._model: EmotionModel | None = None
        self._lock = threading.Lock()

    @property
    def model(self) -> EmotionModel | None:
        return self._model

    def install(self, manifest_bytes: bytes, model_bytes: bytes, variant: str = "float") -> EmotionModel:
        """Verify and load a model, then make it the serving one; on any error the previous model
        keeps serving and the error propagates."""
        model = self._loader.load(manifest_bytes, model_bytes, variant)
        with self._lock:
            self._model = model
        return model

    def install_directory(self, folder: str | Path, variant: str = "float") -> EmotionModel:
        """:meth:`install` from a folder holding ``manifest.json`` and the model file."""
        model = self._loader.load_directory(folder, variant)
        with self._lock:
            self._model = model
        return model

    def score(self, features: NDArray[np.float32] | Sequence[Sequence[float]]) -> WindowScores:
        """Score queued windows ``(n, F)`` in batches; :class:`NoModelLoaded` before any install."""
        model = self._model
        if model is None:
            raise NoModelLoaded("no model installed; call install() first")
        return model.score(features)


def committed_model_dir() -> Path:
    """The folder of the model files shipped with the SDK, as package data
    (``edge_sdk/inference/artifacts``; ``make model`` writes them)."""
    return Path(__file__).resolve().parent / "artifacts"
