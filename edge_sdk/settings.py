"""Typed settings of one :class:`~edge_sdk.client.EdgeClient`.

:class:`EdgeSettings` says where the cloud and the store are and how sync paces itself;
:class:`PipelineSettings` configures the on-device pipeline (capture windows, the model and its
runtime). The clock and the random source are injectable so tests drive time and jitter exactly.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edge_sdk.capture.recorder import (
    DEFAULT_IDLE_GAP_MS,
    DEFAULT_MAX_BUFFERED_EVENTS,
    DEFAULT_WINDOW_SPAN_MS,
)
from edge_sdk.errors import InvalidSettings
from edge_sdk.inference.backends import BackendChoice
from sync.codec import MediaType
from sync.limits import DEFAULT_PULL_LIMIT, MAX_BODY_BYTES, MAX_MUTATIONS, MAX_PULL_LIMIT
from sync.locales import LOCALE_TAG_PATTERN, MAX_LOCALE_TAG_CHARS
from sync.messages import Platform
from sync.releases import ReleaseKeyInvalid, load_public_key
from sync.timing import BACKOFF_BASE_S, BACKOFF_CAP_S


def wall_clock_ms() -> int:
    """The device's wall clock as integer Unix epoch milliseconds."""
    return time.time_ns() // 1_000_000


_LOCALE_TAG = re.compile(LOCALE_TAG_PATTERN)
_BODY_MARGIN_BYTES = 16 * 1024
"""Room left under the cloud's body limit by default, so a proxy adding a little never tips it over."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EdgeSettings:
    """Where the cloud is, where the store lives, and how the sync client paces itself."""

    base_url: str
    """Cloud API root, e.g. ``https://api.example.com``; paths such as ``/v1/sync`` are appended."""
    db_path: str | Path
    """SQLite file of the local store (created on first open)."""
    platform: Platform = Platform.ANDROID
    app_version: str = ""
    locale: str | None = None
    """The device's locale as a BCP 47 tag (``pt-BR``), sent with every sync: the cloud writes offer
    reasons and notices in the nearest language it supports. ``None`` sends none."""
    pull_limit: int = DEFAULT_PULL_LIMIT
    """Most changes asked for per exchange (the cloud clamps it to its own maximum)."""
    push_batch: int = MAX_MUTATIONS
    """Most mutations pushed per exchange (the protocol allows at most 500)."""
    push_max_bytes: int = MAX_BODY_BYTES - _BODY_MARGIN_BYTES
    """Most bytes of one encoded sync request (envelope and mutations, in ``media_type``), so a
    request stays under the cloud's 1 MiB; a request always carries at least one mutation."""
    max_exchanges: int = 1000
    """Most exchanges one ``sync()`` makes before returning (outcome ``more_pending``)."""
    backoff_base_s: float = BACKOFF_BASE_S
    backoff_cap_s: float = BACKOFF_CAP_S
    media_type: MediaType = MediaType.MSGPACK
    timeout_s: float = 15.0
    """Per-request timeout of the HTTP transport."""
    refresh_margin_ms: int = 60_000
    """Refresh the access token this long before it expires (on the cloud's clock; protocol §4.2)."""
    clock_ms: Callable[[], int] = wall_clock_ms
    """Device wall clock in epoch ms; tests pass a fake."""
    random: Callable[[], float] = field(default_factory=lambda: random.Random().random)
    """Uniform in ``[0, 1)``, used for backoff jitter only (never for secrets)."""

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise InvalidSettings(f"base_url must be an http(s) URL, got {self.base_url!r}")
        if self.locale is not None and (
            len(self.locale) > MAX_LOCALE_TAG_CHARS or not _LOCALE_TAG.fullmatch(self.locale)
        ):
            raise InvalidSettings(f"locale must be a BCP 47 tag such as pt-BR, got {self.locale!r}")
        if not 1 <= self.push_batch <= MAX_MUTATIONS:
            raise InvalidSettings(f"push_batch must be in 1..{MAX_MUTATIONS}")
        if not 1 <= self.pull_limit <= MAX_PULL_LIMIT:
            raise InvalidSettings(f"pull_limit must be in 1..{MAX_PULL_LIMIT}")
        if not 1024 <= self.push_max_bytes <= MAX_BODY_BYTES:
            raise InvalidSettings(f"push_max_bytes must be in 1024..{MAX_BODY_BYTES}")
        if self.max_exchanges < 1:
            raise InvalidSettings("max_exchanges must be >= 1")
        if not 0 < self.backoff_base_s <= self.backoff_cap_s:
            raise InvalidSettings("backoff needs 0 < backoff_base_s <= backoff_cap_s")
        if self.timeout_s <= 0:
            raise InvalidSettings("timeout_s must be > 0")


DEFAULT_MAX_PENDING_WINDOWS = 1440
"""A day of back-to-back 60 s windows: closed windows kept while the model cannot score them."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineSettings:
    """The on-device pipeline: how capture cuts activity windows and which model scores them."""

    model_dir: str | Path | None = None
    """Folder holding ``manifest.json`` and the model files; ``None`` is the model committed with
    the SDK (``edge_sdk/inference/artifacts``). Loaded lazily, on the first ``process()``."""
    model_variant: str = "float"
    """Which file of the manifest to run: ``float`` or ``int8`` (see the model card)."""
    release_public_key: str | None = None
    """The Ed25519 public key (base64 of its 32 raw bytes) whose signature a model release must
    carry (spec §5.9): pin the key of whoever signs your releases. ``None`` refuses every release;
    the model shipped with the app keeps serving."""
    release_dir: str | Path | None = None
    """Where installed releases' files are kept; ``None`` is a folder next to the store file
    (``<store>.models``)."""
    backend: BackendChoice = "auto"
    """Inference runtime: ``auto`` (ai-edge-litert, else tflite-runtime), a runtime by name, or a
    factory such as ``lambda: HostBackend(callback)`` for the phone's native runtime."""
    window_span_ms: int = DEFAULT_WINDOW_SPAN_MS
    """Longest activity window."""
    idle_gap_ms: int = DEFAULT_IDLE_GAP_MS
    """A pause longer than this ends a window."""
    max_buffered_events: int = DEFAULT_MAX_BUFFERED_EVENTS
    """Events held in memory between two ``process()`` calls; beyond it batches are dropped and
    counted."""
    max_pending_windows: int = DEFAULT_MAX_PENDING_WINDOWS
    """Closed windows kept in memory while they cannot be scored (no model yet, a failing host
    runtime); beyond it the oldest are dropped and counted."""

    def __post_init__(self) -> None:
        for name in ("window_span_ms", "idle_gap_ms", "max_buffered_events", "max_pending_windows"):
            value = getattr(self, name)
            if type(value) is not int or value <= 0:
                raise InvalidSettings(f"{name} must be a positive integer, got {value!r}")
        if self.model_variant not in ("float", "int8"):
            raise InvalidSettings(f"model_variant must be 'float' or 'int8', got {self.model_variant!r}")
        if self.release_public_key is not None:
            try:
                load_public_key(self.release_public_key)
            except ReleaseKeyInvalid as exc:
                raise InvalidSettings(f"release_public_key: {exc}") from None
