"""What the host registers with the bridge: its inference hook and its event sink, both over strings.

**Inference.** The phone runs the SDK's verified ``.tflite`` on the platform's own LiteRT (Android
``org.tensorflow.lite.Interpreter``/Google Play services LiteRT, iOS ``TensorFlowLiteSwift``). The
hook is called with one JSON string::

    {"modelPath": ".../models/<sha256>.tflite", "modelSha256": "…", "inputs": [[f0, f1, …], …]}

and answers ``{"outputs": [[stress, valence, arousal], …]}``, one row per input row, in the
signature's ``serving_default`` order. The SDK checked the file (manifest, SHA-256) before writing
it to ``modelPath``; the host may cache its interpreter by ``modelSha256``. The model's probe
inputs go through the hook before its first real batch, so a host runtime that computes something
else is caught before any score is stored. A hook that raises, answers something else or does not
answer within the timeout fails that ``process`` call with a named error; the events stay buffered.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
from numpy.typing import NDArray

from mobile_bridge.errors import HostInferenceTimeout

InferenceHook = Callable[[str], str]
"""``hook(request_json) -> reply_json`` (module docstring)."""

EventSink = Callable[[str], Any]
"""``sink(event_json)``: called after the change it reports, on the thread whose call caused it."""


class _InferenceRequest(msgspec.Struct, rename="camel", kw_only=True):
    model_path: str
    model_sha256: str
    inputs: list[list[float]]


class _InferenceReply(msgspec.Struct, rename="camel", kw_only=True):
    outputs: list[list[float]]


_request_encoder = msgspec.json.Encoder()
_reply_decoder = msgspec.json.Decoder(_InferenceReply)


class HostInference:
    """The :class:`~edge_sdk.inference.backends.HostBackend` callback that calls the host's hook.

    Each call runs on a thread of its own and is waited for at most ``timeout_s``: a host that
    hangs costs one parked thread, never the caller of ``process``.
    """

    def __init__(self, hook: InferenceHook, model_dir: Path, timeout_s: float) -> None:
        self._hook = hook
        self._model_dir = model_dir
        self._timeout_s = timeout_s

    def _model_file(self, model_bytes: bytes) -> tuple[Path, str]:
        sha = hashlib.sha256(model_bytes).hexdigest()
        path = self._model_dir / f"{sha}.tflite"
        if not path.exists():
            self._model_dir.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.partial")
            partial.write_bytes(model_bytes)
            partial.replace(path)  # atomic: the host never sees half a model
        return path, sha

    def __call__(self, model_bytes: bytes, batch: NDArray[np.float32]) -> NDArray[np.float32]:
        path, sha = self._model_file(model_bytes)
        request = _request_encoder.encode(
            _InferenceRequest(model_path=str(path), model_sha256=sha, inputs=batch.tolist())
        ).decode()
        box: dict[str, Any] = {}
        done = threading.Event()

        def run() -> None:
            try:
                box["reply"] = self._hook(request)
            except BaseException as exc:  # the host's failure, reported on the caller's thread
                box["error"] = exc
            finally:
                done.set()

        threading.Thread(target=run, name="bridge-host-inference", daemon=True).start()
        if not done.wait(self._timeout_s):
            raise HostInferenceTimeout(self._timeout_s)
        if "error" in box:
            # HostBackend names it: host_inference_error.
            raise RuntimeError(f"the host's inference hook raised {box['error']!r}") from box["error"]
        reply = box.get("reply")
        if not isinstance(reply, str | bytes):
            raise TypeError(f"the inference hook answered {type(reply).__name__}, not a JSON string")
        outputs = _reply_decoder.decode(reply).outputs
        return np.asarray(outputs, dtype=np.float32)
