"""The model manifest: what a ``.tflite`` file computes, from which features, and how to check it.

The exporter (``models/train.py``) writes ``manifest.json`` next to the model files from these
Structs, and the SDK decodes it with the same Structs, so the two cannot drift apart. The SDK
verifies a model against its manifest before loading it (see :mod:`edge_sdk.inference.loader`).
"""

from __future__ import annotations

import hashlib
import re
from typing import Annotated, Any, Final

import msgspec

from edge_sdk.inference.errors import ManifestInvalid, UnknownModelVersion, UnknownVariant

MANIFEST_FORMAT: Final = 1
"""Schema version of ``manifest.json``; a manifest of another format is refused as unknown."""

SUPPORTED_MODEL_MAJORS: Final = frozenset({1})
"""Major model versions this SDK can run: a new major changes what the outputs mean."""

OUTPUT_NAMES: Final = ("stress", "valence", "arousal")
"""The model's named outputs, in the column order of every ``(n, 3)`` output array."""

INPUT_NAME: Final = "features"
"""The model's single named input: a ``(n, F)`` batch of normalised feature vectors."""

SIGNATURE_KEY: Final = "serving_default"

_MODEL_VERSION = re.compile(r"^emotion-v(\d+)\.(\d+)\.(\d+)$")

Sha256 = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]


class TensorSpec(msgspec.Struct, frozen=True, kw_only=True):
    """One named input or output tensor of the ``serving_default`` signature; -1 is the batch axis."""

    name: str
    shape: tuple[int, ...]
    dtype: str


class OutputSpec(msgspec.Struct, frozen=True, kw_only=True):
    """What one output means and the closed range its values lie in."""

    name: str
    low: float
    high: float
    meaning: str


class Normalisation(msgspec.Struct, frozen=True, kw_only=True):
    """``(x - mean) / std`` per feature, applied by the SDK before the model sees a batch."""

    mean: tuple[float, ...]
    std: tuple[float, ...]


class ModelFile(msgspec.Struct, frozen=True, kw_only=True):
    """One exported ``.tflite`` file of the model."""

    variant: str
    """``float`` (float32 weights and I/O) or ``int8`` (full-integer weights, activations and I/O)."""
    path: str
    """File name, relative to the manifest's folder."""
    sha256: Sha256
    size_bytes: int
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    probe_atol: float
    """Largest absolute difference allowed between this file's probe outputs and the reference."""


class Probe(msgspec.Struct, frozen=True, kw_only=True):
    """A fixed batch of raw (unnormalised) feature vectors and the trained model's outputs for it,
    computed by the training framework at export time; every runtime must reproduce them."""

    inputs: tuple[tuple[float, ...], ...]
    outputs: tuple[tuple[float, ...], ...]


class Manifest(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the SDK checks before it runs a model, plus its evaluation for the model card."""

    format: int
    model_version: str
    feature_spec_version: str
    feature_names: tuple[str, ...]
    normalisation: Normalisation
    outputs: tuple[OutputSpec, ...]
    files: tuple[ModelFile, ...]
    probe: Probe
    metrics: dict[str, Any] = msgspec.field(default_factory=dict)
    training_data: dict[str, Any] = msgspec.field(default_factory=dict)

    def file(self, variant: str) -> ModelFile:
        """The model file of ``variant``; :class:`UnknownVariant` if the manifest has none."""
        for entry in self.files:
            if entry.variant == variant:
                return entry
        known = ", ".join(f.variant for f in self.files)
        raise UnknownVariant(f"the manifest has no {variant!r} model (it has: {known})")

    @property
    def n_features(self) -> int:
        return len(self.feature_names)


def model_major(model_version: str) -> int:
    """The major version of ``emotion-vMAJOR.MINOR.PATCH``; :class:`UnknownModelVersion` otherwise."""
    match = _MODEL_VERSION.match(model_version)
    if match is None:
        raise UnknownModelVersion(f"model version {model_version!r} is not emotion-vMAJOR.MINOR.PATCH")
    return int(match.group(1))


def decode_manifest(data: bytes) -> Manifest:
    """Decode and check a manifest's own consistency (not yet against a model file or the SDK's
    feature spec). Raises :class:`ManifestInvalid` or :class:`UnknownModelVersion`."""
    try:
        manifest = msgspec.json.decode(data, type=Manifest)
    except msgspec.DecodeError as exc:
        raise ManifestInvalid(f"manifest.json does not decode: {exc}") from None
    if manifest.format != MANIFEST_FORMAT:
        raise UnknownModelVersion(f"manifest format {manifest.format} (this SDK reads {MANIFEST_FORMAT})")
    major = model_major(manifest.model_version)
    if major not in SUPPORTED_MODEL_MAJORS:
        raise UnknownModelVersion(
            f"model {manifest.model_version} has major version {major}; this SDK runs "
            + ", ".join(str(m) for m in sorted(SUPPORTED_MODEL_MAJORS))
        )
    n = manifest.n_features
    if n == 0 or len(manifest.normalisation.mean) != n or len(manifest.normalisation.std) != n:
        raise ManifestInvalid(f"normalisation must have one mean and one std per feature ({n})")
    if any(not (s > 0.0) for s in manifest.normalisation.std):
        raise ManifestInvalid("every normalisation std must be positive")
    if tuple(o.name for o in manifest.outputs) != OUTPUT_NAMES:
        raise UnknownModelVersion(
            f"the model's outputs are {[o.name for o in manifest.outputs]}, "
            f"this SDK reads {list(OUTPUT_NAMES)}"
        )
    if not manifest.probe.inputs or len(manifest.probe.inputs) != len(manifest.probe.outputs):
        raise ManifestInvalid("the probe needs as many reference outputs as inputs, at least one")
    if any(len(row) != n for row in manifest.probe.inputs) or any(
        len(row) != len(OUTPUT_NAMES) for row in manifest.probe.outputs
    ):
        raise ManifestInvalid("probe rows must have one value per feature / per output")
    return manifest


def encode_manifest(manifest: Manifest) -> bytes:
    """Stable, human-diffable JSON for the committed ``manifest.json``."""
    return msgspec.json.format(msgspec.json.encode(manifest), indent=2) + b"\n"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
