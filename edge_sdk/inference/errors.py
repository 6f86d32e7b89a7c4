"""Why a model was refused or could not run: one named exception each, all under :class:`ModelError`.

A refused model changes nothing: the model that was serving before keeps serving.
"""

from __future__ import annotations

from enum import StrEnum

from edge_sdk.errors import EdgeError


class ModelError(EdgeError):
    """Base of every inference failure."""


class ManifestInvalid(ModelError):
    """The manifest is not valid JSON of the manifest schema, or contradicts itself."""


class UnknownModelVersion(ModelError):
    """The manifest format or the model's major version is not one this SDK knows how to run."""


class FeatureSpecMismatch(ModelError):
    """The model was trained on a different feature vector than the SDK computes (version or names)."""


class ModelHashMismatch(ModelError):
    """The model file's SHA-256 is not the one its manifest names: corrupt or substituted."""

    def __init__(self, variant: str, expected: str, actual: str) -> None:
        super().__init__(f"{variant} model: SHA-256 {actual} does not match the manifest's {expected}")
        self.variant = variant
        self.expected = expected
        self.actual = actual


class UnknownVariant(ModelError):
    """The manifest lists no model file of the requested variant (``float`` or ``int8``)."""


class ModelSignatureMismatch(ModelError):
    """The model file's ``serving_default`` signature (names, shapes) is not the manifest's."""


class ProbeMismatch(ModelError):
    """The runtime's outputs for the manifest's probe batch differ from the exporter's reference
    outputs beyond the stated tolerance: the file or the runtime computes something else."""


class BackendUnavailable(ModelError):
    """No usable inference runtime: the requested one is not installed, or none of the automatic
    choices is."""


class HostInferenceError(ModelError):
    """The host app's inference callback failed or returned outputs of the wrong shape or values."""


class InvalidFeatures(ModelError, ValueError):
    """The feature batch handed to ``score()`` is not a finite ``(n, F)`` array of this model's F."""


class NoModelLoaded(ModelError):
    """``score()`` was called before any model was installed."""


class ReleaseRefusal(StrEnum):
    """Why a model release was refused (:attr:`ReleaseRefused.reason`)."""

    KEY_MISSING = "key_missing"
    """No release public key is pinned (``PipelineSettings.release_public_key``)."""
    UNSIGNED = "unsigned"
    SIGNATURE_INVALID = "signature_invalid"
    """The signature does not verify under the pinned key (or is malformed)."""
    NOT_NEWER = "not_newer"
    """The release number is not above the one the device runs."""
    FEATURE_SPEC_MISMATCH = "feature_spec_mismatch"
    MANIFEST_MISMATCH = "manifest_mismatch"
    """The fetched ``manifest.json`` is not the signed one (its SHA-256 or its model version)."""


class ReleaseRefused(ModelError):
    """A model release failed a check of spec §5.9 before its model was loaded; the model that
    was serving keeps serving. ``reason`` says which check."""

    def __init__(self, reason: ReleaseRefusal, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class ModelDownloadFailed(ModelError):
    """A release's file could not be fetched (no answer, or an HTTP error ``status``); try later."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
