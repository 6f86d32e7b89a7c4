"""Backend choice (automatic, override, unavailable) and the host backend's checks."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from numpy.typing import NDArray
from tflite_runtime.interpreter import Interpreter

from edge_sdk.inference import (
    BackendUnavailable,
    HostBackend,
    HostInferenceError,
    InferenceBackend,
    InferenceEngine,
    LiteRTBackend,
    ModelLoader,
    TFLiteRuntimeBackend,
    available_backends,
    make_backend,
)
from models.synthetic import generate


def _block(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    """Make ``import module`` fail as if the package were not installed."""
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)


LITERT = ("ai_edge_litert", "ai_edge_litert.interpreter")
TFLITE = ("tflite_runtime", "tflite_runtime.interpreter")


def test_auto_prefers_litert() -> None:
    assert available_backends() == ("litert", "tflite-runtime")
    backend = make_backend()
    assert isinstance(backend, LiteRTBackend)
    assert isinstance(backend, InferenceBackend)


def test_auto_falls_back_to_tflite_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    _block(monkeypatch, *LITERT)
    assert available_backends() == ("tflite-runtime",)
    assert isinstance(make_backend("auto"), TFLiteRuntimeBackend)


def test_auto_without_any_runtime_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    _block(monkeypatch, *LITERT, *TFLITE)
    with pytest.raises(BackendUnavailable, match="neither"):
        make_backend("auto")


def test_override_by_name() -> None:
    assert isinstance(make_backend("tflite-runtime"), TFLiteRuntimeBackend)
    assert isinstance(make_backend("litert"), LiteRTBackend)


def test_override_of_a_missing_runtime_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    _block(monkeypatch, *TFLITE)
    with pytest.raises(BackendUnavailable, match="tflite-runtime is not installed"):
        make_backend("tflite-runtime")


def test_unknown_backend_name_is_refused() -> None:
    with pytest.raises(BackendUnavailable, match="unknown backend"):
        make_backend("onnx")  # type: ignore[arg-type]


def test_each_load_gets_a_fresh_backend(manifest_bytes: bytes, model_files: dict[str, bytes]) -> None:
    loader = ModelLoader("tflite-runtime")
    first = loader.load(manifest_bytes, model_files["float"])
    second = loader.load(manifest_bytes, model_files["float"])
    assert first.backend is not second.backend


def _tflite_host(model_bytes: bytes, batch: NDArray[np.float32]) -> NDArray[np.float32]:
    """What a host does with its native runtime: run the bytes it was given on the batch."""
    runner = Interpreter(model_content=model_bytes).get_signature_runner("serving_default")
    out = runner(features=batch)
    return np.concatenate([out[name] for name in ("stress", "valence", "arousal")], axis=1)


def test_host_backend_runs_the_model_through_the_callback(
    manifest_bytes: bytes, model_files: dict[str, bytes]
) -> None:
    calls: list[int] = []

    def callback(model_bytes: bytes, batch: NDArray[np.float32]) -> NDArray[np.float32]:
        assert model_bytes == model_files["float"]
        calls.append(batch.shape[0])
        return _tflite_host(model_bytes, batch)

    model = ModelLoader(lambda: HostBackend(callback)).load(manifest_bytes, model_files["float"])
    assert model.backend.name == "host" and calls  # the probe already ran through the host
    windows = generate(n_users=3, windows_per_user=5, seed=1).features
    host = model.score(windows)
    local = ModelLoader("litert").load(manifest_bytes, model_files["float"]).score(windows)
    np.testing.assert_allclose(host.stress, local.stress, atol=1e-5)


@pytest.mark.parametrize(
    ("result", "message"),
    [
        (lambda b, x: np.zeros((x.shape[0], 2)), "shape"),
        (lambda b, x: np.full((x.shape[0], 3), np.nan), "non-finite"),
        (lambda b, x: "not numbers", "failed"),
    ],
)
def test_host_backend_refuses_bad_results(
    result: object, message: str, manifest_bytes: bytes, model_files: dict[str, bytes]
) -> None:
    engine = InferenceEngine(ModelLoader(lambda: HostBackend(result)))  # type: ignore[arg-type]
    with pytest.raises(HostInferenceError, match=message):
        engine.install(manifest_bytes, model_files["float"])
    assert engine.model is None


def test_host_callback_exception_is_named(manifest_bytes: bytes, model_files: dict[str, bytes]) -> None:
    def broken(model_bytes: bytes, batch: NDArray[np.float32]) -> NDArray[np.float32]:
        raise RuntimeError("native interpreter crashed")

    with pytest.raises(HostInferenceError, match="native interpreter crashed"):
        ModelLoader(lambda: HostBackend(broken)).load(manifest_bytes, model_files["float"])


def test_host_backend_predict_before_load() -> None:
    with pytest.raises(HostInferenceError, match="before load"):
        HostBackend(_tflite_host).predict(np.zeros((1, 18), dtype=np.float32))
