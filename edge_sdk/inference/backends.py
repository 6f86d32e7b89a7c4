"""Inference runtimes behind one small interface.

- :class:`LiteRTBackend`: Google's ``ai-edge-litert`` (the maintained successor of TFLite).
- :class:`TFLiteRuntimeBackend`: ``tflite-runtime`` 2.14 (its last release; needs numpy < 2).
- :class:`HostBackend`: the host app runs the model itself (the phone's native LiteRT) through a
  callback that ``mobile_bridge`` wires up.

:func:`make_backend` picks one: ``"auto"`` tries ai-edge-litert, then tflite-runtime. Each backend
instance holds one loaded model, so loading a new model into a fresh instance cannot disturb the
instance still serving the previous one.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from edge_sdk.inference.errors import (
    BackendUnavailable,
    HostInferenceError,
    InvalidFeatures,
    ModelSignatureMismatch,
)
from edge_sdk.inference.manifest import OUTPUT_NAMES, SIGNATURE_KEY, TensorSpec

BackendName = Literal["auto", "litert", "tflite-runtime"]

AUTO_ORDER: Final[tuple[Literal["litert", "tflite-runtime"], ...]] = ("litert", "tflite-runtime")
"""ai-edge-litert first: it is maintained and runs the newest op versions; tflite-runtime is the
fallback for platforms without a LiteRT wheel."""

_INTERPRETER_MODULES: Final = {
    "litert": "ai_edge_litert.interpreter",
    "tflite-runtime": "tflite_runtime.interpreter",
}

HostInferenceCallback = Callable[[bytes, NDArray[np.float32]], Any]
"""``callback(model_bytes, batch)`` → array-like ``(n, 3)`` (stress, valence, arousal).

``batch`` is the normalised ``(n, F)`` float32 input; the host runs ``model_bytes`` (the verified
``.tflite`` file, which it may cache by its SHA-256) on it with its own runtime."""


@dataclass(frozen=True, slots=True)
class BackendSignature:
    """What a backend found in the loaded file's ``serving_default`` signature."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]


@runtime_checkable
class InferenceBackend(Protocol):
    """One runtime holding one model. ``predict`` takes a normalised ``(n, F)`` float32 batch and
    returns ``(n, 3)`` float32 in :data:`~edge_sdk.inference.manifest.OUTPUT_NAMES` order."""

    name: str

    def load(self, model_bytes: bytes) -> None:
        """Load the model; raises :class:`ModelSignatureMismatch` if it cannot be run."""
        ...

    def signature(self) -> BackendSignature | None:
        """The loaded file's signature, or ``None`` when the runtime cannot tell (host backend)."""
        ...

    def predict(self, batch: NDArray[np.float32]) -> NDArray[np.float32]:
        """Run the model on a batch."""
        ...


def _spec(name: str, detail: dict[str, Any]) -> TensorSpec:
    shape = tuple(int(d) for d in detail["shape_signature"])
    return TensorSpec(name=name, shape=shape, dtype=np.dtype(detail["dtype"]).name)


class _InterpreterBackend:
    """Shared by both Python TFLite runtimes, whose interpreter APIs are the same.

    Quantised (int8) inputs and outputs are converted with the tensors' own scale and zero point,
    so callers always see float32.
    """

    name: str = ""
    module: str = ""

    def __init__(self, num_threads: int = 1) -> None:
        # One thread: the SDK scores small batches in the background; a second thread would
        # compete with the host app's UI for a phone's big cores and buys nothing at this size.
        self._num_threads = num_threads
        self._runner: Any = None
        self._input_name = ""
        self._input: dict[str, Any] = {}
        self._outputs: dict[str, dict[str, Any]] = {}
        self._signature: BackendSignature | None = None
        # Interpreters are not thread-safe; scoring may be called from a worker thread.
        self._lock = threading.Lock()

    def load(self, model_bytes: bytes) -> None:
        interpreter_cls = _import_interpreter(self.name)
        try:
            interpreter = interpreter_cls(model_content=model_bytes, num_threads=self._num_threads)
            signatures = interpreter.get_signature_list()
        except (ValueError, RuntimeError) as exc:
            raise ModelSignatureMismatch(f"{self.name} cannot load the model: {exc}") from None
        if SIGNATURE_KEY not in signatures:
            raise ModelSignatureMismatch(f"the model has no {SIGNATURE_KEY!r} signature: {list(signatures)}")
        runner = interpreter.get_signature_runner(SIGNATURE_KEY)
        inputs = runner.get_input_details()
        outputs = runner.get_output_details()
        if len(inputs) != 1:
            raise ModelSignatureMismatch(f"the model has {len(inputs)} inputs, expected one")
        if set(outputs) != set(OUTPUT_NAMES):
            raise ModelSignatureMismatch(
                f"the model's outputs are {sorted(outputs)}, expected {list(OUTPUT_NAMES)}"
            )
        ((input_name, input_detail),) = inputs.items()
        self._runner = runner
        self._input_name = input_name
        self._input = input_detail
        self._outputs = outputs
        self._signature = BackendSignature(
            inputs=(_spec(input_name, input_detail),),
            outputs=tuple(_spec(name, outputs[name]) for name in OUTPUT_NAMES),
        )

    def signature(self) -> BackendSignature | None:
        return self._signature

    def predict(self, batch: NDArray[np.float32]) -> NDArray[np.float32]:
        if self._runner is None:
            raise ModelSignatureMismatch(f"{self.name}: predict() before load()")
        n = batch.shape[0]
        if n == 0:
            return np.zeros((0, len(OUTPUT_NAMES)), dtype=np.float32)
        x = _quantise(batch, self._input)
        with self._lock:
            raw = self._runner(**{self._input_name: x})
        out = np.empty((n, len(OUTPUT_NAMES)), dtype=np.float32)
        for column, name in enumerate(OUTPUT_NAMES):
            out[:, column] = _dequantise(raw[name], self._outputs[name]).reshape(n)
        return out


def _quantise(batch: NDArray[np.float32], detail: dict[str, Any]) -> NDArray[Any]:
    dtype = np.dtype(detail["dtype"])
    if dtype == np.float32:
        return batch
    scale, zero_point = detail["quantization"]
    info = np.iinfo(dtype)
    q: NDArray[np.float32] = np.rint(batch / np.float32(scale)) + np.float32(zero_point)
    quantised: NDArray[Any] = np.clip(q, info.min, info.max).astype(dtype)
    return quantised


def _dequantise(values: NDArray[Any], detail: dict[str, Any]) -> NDArray[np.float32]:
    if np.dtype(detail["dtype"]) == np.float32:
        return values.astype(np.float32, copy=False)
    scale, zero_point = detail["quantization"]
    return ((values.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)).astype(np.float32)


class LiteRTBackend(_InterpreterBackend):
    """``ai_edge_litert.interpreter``."""

    name = "litert"


class TFLiteRuntimeBackend(_InterpreterBackend):
    """``tflite_runtime.interpreter``."""

    name = "tflite-runtime"


class HostBackend:
    """The host app runs the model (the phone's native LiteRT) through ``callback``.

    The SDK still verifies the file and the manifest before handing the bytes over, and checks what
    comes back: an exception or a result that is not a finite ``(n, 3)`` array becomes
    :class:`HostInferenceError`.
    """

    name = "host"

    def __init__(self, callback: HostInferenceCallback) -> None:
        self._callback = callback
        self._model: bytes | None = None

    def load(self, model_bytes: bytes) -> None:
        self._model = model_bytes

    def signature(self) -> BackendSignature | None:
        return None

    def predict(self, batch: NDArray[np.float32]) -> NDArray[np.float32]:
        if self._model is None:
            raise HostInferenceError("predict() before load()")
        n = batch.shape[0]
        try:
            result = self._callback(self._model, batch)
            out = np.asarray(result, dtype=np.float32)
        except Exception as exc:  # the host's code: any failure is the host's, named as such
            raise HostInferenceError(f"the host inference callback failed: {exc!r}") from exc
        if out.shape != (n, len(OUTPUT_NAMES)):
            expected = (n, len(OUTPUT_NAMES))
            raise HostInferenceError(f"the host returned shape {out.shape}, expected {expected}")
        if not np.all(np.isfinite(out)):
            raise HostInferenceError("the host returned non-finite outputs")
        return out


def _import_interpreter(name: str) -> Any:
    module = _INTERPRETER_MODULES[name]
    try:
        return importlib.import_module(module).Interpreter
    except ImportError as exc:
        raise BackendUnavailable(f"{name} is not installed ({module}: {exc})") from None


def available_backends() -> tuple[str, ...]:
    """The Python runtimes importable here, in automatic-choice order."""
    found = []
    for name in AUTO_ORDER:
        try:
            _import_interpreter(name)
        except BackendUnavailable:
            continue
        found.append(name)
    return tuple(found)


BackendChoice = BackendName | Callable[[], InferenceBackend]


def make_backend(choice: BackendChoice = "auto") -> InferenceBackend:
    """A fresh backend: ``"auto"`` (ai-edge-litert, else tflite-runtime), a runtime by name, or a
    factory (e.g. ``lambda: HostBackend(callback)``). Raises :class:`BackendUnavailable`."""
    if callable(choice):
        return choice()
    if choice == "auto":
        available = available_backends()
        if not available:
            raise BackendUnavailable("neither ai-edge-litert nor tflite-runtime is installed")
        choice = "litert" if available[0] == "litert" else "tflite-runtime"
    if choice == "litert":
        _import_interpreter("litert")
        return LiteRTBackend()
    if choice == "tflite-runtime":
        _import_interpreter("tflite-runtime")
        return TFLiteRuntimeBackend()
    raise BackendUnavailable(f"unknown backend {choice!r}; choose auto, litert or tflite-runtime")


def check_batch(batch: object, n_features: int) -> NDArray[np.float32]:
    """``batch`` as a C-contiguous float32 ``(n, n_features)`` array of finite values."""
    try:
        array = np.ascontiguousarray(batch, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidFeatures(f"features are not numeric: {exc}") from None
    if array.ndim != 2 or array.shape[1] != n_features:
        raise InvalidFeatures(f"features must be shaped (n, {n_features}), got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise InvalidFeatures("features contain NaN or infinity")
    return array
