"""On-device inference: verified model loading, runtimes behind one interface, batched scoring.

Typical use::

    engine = InferenceEngine(ModelLoader(backend="auto"))
    engine.install_directory(committed_model_dir(), variant="int8")
    scores = engine.score(feature_batch)  # (n, F) raw features in FEATURE_SPEC order
"""

from edge_sdk.inference.backends import (
    AUTO_ORDER,
    BackendChoice,
    BackendName,
    BackendSignature,
    HostBackend,
    HostInferenceCallback,
    InferenceBackend,
    LiteRTBackend,
    TFLiteRuntimeBackend,
    available_backends,
    make_backend,
)
from edge_sdk.inference.errors import (
    BackendUnavailable,
    FeatureSpecMismatch,
    HostInferenceError,
    InvalidFeatures,
    ManifestInvalid,
    ModelError,
    ModelHashMismatch,
    ModelSignatureMismatch,
    NoModelLoaded,
    ProbeMismatch,
    UnknownModelVersion,
    UnknownVariant,
)
from edge_sdk.inference.loader import (
    MANIFEST_FILE,
    MAX_BATCH,
    EmotionModel,
    InferenceEngine,
    ModelLoader,
    WindowScores,
    committed_model_dir,
)
from edge_sdk.inference.manifest import (
    INPUT_NAME,
    MANIFEST_FORMAT,
    OUTPUT_NAMES,
    SIGNATURE_KEY,
    Manifest,
    ModelFile,
    Normalisation,
    OutputSpec,
    Probe,
    TensorSpec,
    decode_manifest,
    encode_manifest,
)

__all__ = [
    "AUTO_ORDER",
    "INPUT_NAME",
    "MANIFEST_FILE",
    "MANIFEST_FORMAT",
    "MAX_BATCH",
    "OUTPUT_NAMES",
    "SIGNATURE_KEY",
    "BackendChoice",
    "BackendName",
    "BackendSignature",
    "BackendUnavailable",
    "EmotionModel",
    "FeatureSpecMismatch",
    "HostBackend",
    "HostInferenceCallback",
    "HostInferenceError",
    "InferenceBackend",
    "InferenceEngine",
    "InvalidFeatures",
    "LiteRTBackend",
    "Manifest",
    "ManifestInvalid",
    "ModelError",
    "ModelFile",
    "ModelHashMismatch",
    "ModelLoader",
    "ModelSignatureMismatch",
    "NoModelLoaded",
    "Normalisation",
    "OutputSpec",
    "Probe",
    "ProbeMismatch",
    "TFLiteRuntimeBackend",
    "TensorSpec",
    "UnknownModelVersion",
    "UnknownVariant",
    "WindowScores",
    "available_backends",
    "committed_model_dir",
    "decode_manifest",
    "encode_manifest",
    "make_backend",
]
