"""The on-device pipeline: raw events → activity windows → features → model scores.

:class:`EdgePipeline` holds what lives in memory only: the capture
:class:`~edge_sdk.capture.recorder.Recorder` (gated by the ``inference`` consent), the windows that
were closed but not yet scored, and the :class:`~edge_sdk.inference.loader.InferenceEngine`
(model loaded lazily, verified before it serves). ``EdgeClient.record`` and
``EdgeClient.process`` are the public entry points; the client stores the scores through the same
path as ``record_window_scores`` (consent checked in the store transaction), and the daily release
stays ``release_daily_aggregates``. Nothing here touches disk except reading the model files, and
nothing here is ever sent.

Threads. ``record()`` may be called from any thread, concurrently with everything else: it
validates and appends to the recorder's buffer under the recorder's lock, no disk, no inference.
``process()`` calls are serialised by a lock of their own (a second caller waits); run them on
one background worker. ``clear()`` may be called from any thread.
"""

from __future__ import annotations

import re
import threading
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Literal

import msgspec

from edge_sdk.capture.errors import InvalidEvent, InvalidFieldType, UnsupportedEvent
from edge_sdk.capture.events import AppEvent, Event, KeyEvent, MotionEvent, TouchEvent
from edge_sdk.capture.recorder import Recorder
from edge_sdk.capture.window import ActivityWindow
from edge_sdk.features import extract_many
from edge_sdk.inference.errors import ModelError
from edge_sdk.inference.loader import EmotionModel, InferenceEngine, ModelLoader, committed_model_dir
from edge_sdk.privacy.errors import ConsentRequired
from edge_sdk.privacy.scores import FUTURE_TOLERANCE_MS, WindowScore
from edge_sdk.settings import PipelineSettings

__all__ = [
    "CaptureStatus",
    "EdgePipeline",
    "InvalidEventBatch",
    "ModelUnavailable",
    "ProcessReport",
    "as_events",
]


class InvalidEventBatch(InvalidEvent):
    """The argument of ``record()`` is not a list of events (a string, a mapping, a number)."""


class ModelUnavailable(ModelError):
    """The model's folder, manifest or file cannot be read (missing, unreadable)."""


# --- events from plain mappings (the mobile bridge hands over decoded JSON) ------------


def _loose_type(annotation: Any) -> Any:
    # Categories become plain strings so the recorder's validation names an unknown value
    # (UnknownCategory) exactly as it does for a Struct built in code.
    return str if typing.get_origin(annotation) is Literal else annotation


def _loose(kind: type[msgspec.Struct]) -> type[msgspec.Struct]:
    """``kind`` without its range constraints: ranges, NaN and time order are checked by the
    recorder's validation, one source of truth for Structs and mappings alike."""
    hints = typing.get_type_hints(kind)  # Annotated[...] constraints stripped
    config = kind.__struct_config__
    return msgspec.defstruct(
        f"Loose{kind.__name__}",
        [(f.name, _loose_type(hints[f.name])) for f in msgspec.structs.fields(kind)],
        tag=config.tag,
        tag_field=config.tag_field,
        forbid_unknown_fields=True,
    )


_EVENT_KINDS: Final[tuple[type[msgspec.Struct], ...]] = (KeyEvent, TouchEvent, MotionEvent, AppEvent)
_LOOSE: Final = {_loose(kind): kind for kind in _EVENT_KINDS}
_TAGS: Final = frozenset(kind.__struct_config__.tag for kind in _EVENT_KINDS)
_LooseEvent: Any = typing.Union[tuple(_LOOSE)]  # noqa: UP007 (a runtime union of built types)
_FIELD_IN_ERROR: Final = re.compile(r"(?:at `\$\.(\w+)`|field `(\w+)`)")


def _from_mapping(index: int, item: Mapping[str, Any]) -> Event:
    try:
        loose = msgspec.convert(item, _LooseEvent)
    except msgspec.ValidationError as exc:
        if item.get("type") not in _TAGS:
            raise UnsupportedEvent(index, "type", f"not an event type: {item.get('type')!r}") from None
        match = _FIELD_IN_ERROR.search(str(exc))
        field = (match.group(1) or match.group(2)) if match else "event"
        raise InvalidFieldType(index, field, str(exc)) from None
    return typing.cast(Event, _LOOSE[type(loose)](*msgspec.structs.astuple(loose)))


def _check_batch(batch: object) -> None:
    if isinstance(batch, str | bytes | bytearray | Mapping) or not isinstance(batch, Sequence):
        raise InvalidEventBatch(0, "batch", f"must be a list of events, got {type(batch).__name__}")


def as_events(batch: Sequence[Event | Mapping[str, Any]]) -> Sequence[Event]:
    """``batch`` as event Structs: Structs pass through, mappings (``{"type": "key", ...}``) are
    decoded into them. Raises an :class:`~edge_sdk.capture.errors.InvalidEvent` subclass naming the
    index of the first item that cannot be decoded; range and order checks are the recorder's."""
    _check_batch(batch)
    if all(isinstance(item, _EVENT_KINDS) for item in batch):
        return typing.cast(Sequence[Event], batch)  # the hot path: no copy
    if all(type(item) is dict for item in batch):
        try:  # one conversion of the whole batch; per item only to name the first bad one
            loose = msgspec.convert(batch, list[_LooseEvent])
        except msgspec.ValidationError:
            pass
        else:
            return [typing.cast(Event, _LOOSE[type(e)](*msgspec.structs.astuple(e))) for e in loose]
    return [_from_mapping(i, item) if isinstance(item, Mapping) else item for i, item in enumerate(batch)]


# --- reports -------------------------------------------------------------------------


class ProcessReport(msgspec.Struct, frozen=True, kw_only=True):
    """What one ``process()`` call did."""

    windows: int
    """Closed activity windows handled (drained now, plus any kept from a failed call)."""
    scored: int
    """Windows the model scored."""
    stored: int
    """Window scores stored on the device."""
    skipped: int
    """Scored windows not stored: past the retention period, or a window already stored."""
    dropped_events: int
    """Events dropped since the previous report because ``inference`` was not granted."""
    late_events: int
    """Events dropped since the previous report because their window had already closed."""
    overflowed_events: int
    """Events dropped since the previous report because ``max_buffered_events`` was reached."""
    dropped_windows: int
    """Closed windows dropped since the previous report because ``max_pending_windows`` was reached."""
    consent_missing: bool
    """``inference`` was not granted (or was revoked meanwhile): nothing was scored or stored."""
    model_version: str | None
    """The model that scored the windows (``None`` when nothing was scored)."""


class CaptureStatus(msgspec.Struct, frozen=True, kw_only=True):
    """The pipeline's in-memory state, for diagnostics (totals since the client was opened)."""

    buffered_events: int
    pending_windows: int
    dropped_events: int
    late_events: int
    overflowed_events: int
    dropped_windows: int
    model_version: str | None
    """The serving model, ``None`` until the first ``process()`` (or ``install_model``) loads one."""


StoreScores = Callable[[list[WindowScore], list[int]], int]
"""``store(scores, tz_offsets) -> stored``: stores the scores, skipping stored or expired windows;
raises ``ConsentRequired`` without the ``inference`` scope."""


class EdgePipeline:
    """Capture, windows, features and inference of one client; see the module doc for threads.

    :param settings: window cutting, model folder, variant and runtime.
    :param enabled: whether capture may run (the client passes its ``inference`` consent gate).
    :param engine: the inference engine; a new one over ``settings.backend`` when omitted.
    """

    def __init__(
        self,
        settings: PipelineSettings,
        *,
        enabled: Callable[[], bool],
        engine: InferenceEngine | None = None,
    ) -> None:
        self.settings = settings
        self._enabled = enabled
        self._recorder = Recorder(
            enabled=enabled,
            window_span_ms=settings.window_span_ms,
            idle_gap_ms=settings.idle_gap_ms,
            max_buffered_events=settings.max_buffered_events,
        )
        self._engine = engine or InferenceEngine(ModelLoader(settings.backend))
        self._process_lock = threading.Lock()
        self._pending_lock = threading.Lock()
        self._pending: list[ActivityWindow] = []
        self._dropped_windows = 0
        self._reported = (0, 0, 0, 0)
        """(dropped, late, overflowed, dropped windows) totals at the last report."""
        self._installed: tuple[Path, str, Callable[[ModelError], None]] | None = None

    # --- capture (any thread) ------------------------------------------------------

    def record(self, batch: Sequence[Event | Mapping[str, Any]]) -> int:
        """Validate and buffer ``batch`` in memory; returns how many events were kept (0 when
        capture is disabled: the events are dropped and counted)."""
        _check_batch(batch)
        if not self._enabled():
            # Dropped undecoded, as the recorder drops unvalidated: nothing of the batch is read.
            return self._recorder.record(typing.cast(Sequence[Event], batch))
        return self._recorder.record(as_events(batch))

    def clear(self) -> int:
        """Discard every buffered event and every window not yet scored; returns the events discarded."""
        with self._pending_lock:
            self._pending = []
        return self._recorder.clear()

    def status(self) -> CaptureStatus:
        model = self._engine.model
        with self._pending_lock:
            pending = len(self._pending)
        return CaptureStatus(
            buffered_events=self._recorder.buffered,
            pending_windows=pending,
            dropped_events=self._recorder.dropped,
            late_events=self._recorder.late,
            overflowed_events=self._recorder.overflowed,
            dropped_windows=self._dropped_windows,
            model_version=None if model is None else model.model_version,
        )

    # --- the model -----------------------------------------------------------------

    def _model_dir(self) -> Path:
        return committed_model_dir() if self.settings.model_dir is None else Path(self.settings.model_dir)

    def use_installed(
        self, folder: str | Path, variant: str, on_refused: Callable[[ModelError], None]
    ) -> None:
        """Load the installed release in ``folder`` instead of the configured model at first use. If
        its files no longer pass the checks (changed on disk), ``on_refused`` is told and the
        configured model serves."""
        self._installed = (Path(folder), variant, on_refused)

    def serving_version(self) -> str | None:
        """The serving model's version; ``None`` before one is loaded."""
        model = self._engine.model
        return None if model is None else model.model_version

    def install_release(self, manifest_bytes: bytes, model_bytes: bytes, variant: str) -> EmotionModel:
        """Verify and load a downloaded release's model and make it the serving one; on any failure
        the serving model stays and the named error propagates."""
        model = self._engine.install(manifest_bytes, model_bytes, variant)
        self._installed = None
        return model

    def model(self) -> EmotionModel:
        """The serving model, loading and verifying the configured one on first use.

        Raises :class:`ModelUnavailable` when its files cannot be read and the
        :class:`~edge_sdk.inference.errors.ModelError` subclass of a failed check otherwise.
        """
        model = self._engine.model
        if model is None and self._installed is not None:
            folder, variant, on_refused = self._installed
            self._installed = None
            try:
                model = self.install_model(folder, variant)
            except ModelError as exc:
                on_refused(exc)
        if model is None:
            model = self.install_model(self._model_dir(), self.settings.model_variant)
        return model

    def install_model(self, folder: str | Path, variant: str | None = None) -> EmotionModel:
        """Verify and load the model in ``folder`` and make it the serving one.

        On any failure the previous model (if any) keeps serving and the named error propagates.
        """
        chosen = self.settings.model_variant if variant is None else variant
        try:
            return self._engine.install_directory(folder, chosen)
        except OSError as exc:
            raise ModelUnavailable(f"cannot read the model in {folder}: {exc}") from exc

    # --- processing (one worker thread) --------------------------------------------

    def _take_windows(self, now_ms: int) -> list[ActivityWindow]:
        drained = self._recorder.drain_windows(now_ms)
        with self._pending_lock:
            windows = self._pending + drained
            excess = len(windows) - self.settings.max_pending_windows
            if excess > 0:
                self._dropped_windows += excess
                windows = windows[excess:]
            self._pending = windows
            return list(windows)

    def _keep_pending(self, kept: list[ActivityWindow]) -> None:
        with self._pending_lock:
            # A revoke may have cleared the pending windows while these were being scored.
            self._pending = kept if self._enabled() else []

    def _without_consent(self, now_ms: int) -> ProcessReport:
        self._recorder.drain_windows(now_ms)  # disabled: discards the buffer, counted as dropped
        self.clear()
        return self._report(
            windows=0, scored=0, stored=0, skipped=0, consent_missing=True, model_version=None
        )

    def _report(self, **values: Any) -> ProcessReport:
        totals = (
            self._recorder.dropped,
            self._recorder.late,
            self._recorder.overflowed,
            self._dropped_windows,
        )
        dropped, late, overflowed, windows = (
            now - then for now, then in zip(totals, self._reported, strict=True)
        )
        self._reported = totals
        return ProcessReport(
            dropped_events=dropped,
            late_events=late,
            overflowed_events=overflowed,
            dropped_windows=windows,
            **values,
        )

    def process(self, now_ms: int, *, offset_of: Callable[[int], int], store: StoreScores) -> ProcessReport:
        """Drain closed windows, extract their features, score them in one batch and store them.

        ``offset_of(end_ms)`` gives a window's UTC offset (its local day and time of day);
        ``store`` persists the scores (see :data:`StoreScores`). The model is loaded before any
        window is drained, so a model that cannot be loaded (its named error propagates) leaves
        the events buffered for a later call; windows whose scoring or storing fails for another
        reason are kept and retried by the next call. Windows ending in the future (beyond the
        clock tolerance) wait until they no longer do.
        """
        with self._process_lock:
            if not self._enabled():
                return self._without_consent(now_ms)
            model = self.model()
            windows = self._take_windows(now_ms)
            ready = [w for w in windows if w.end_ms <= now_ms + FUTURE_TOLERANCE_MS]
            later = [w for w in windows if w.end_ms > now_ms + FUTURE_TOLERANCE_MS]
            if not ready:
                return self._report(
                    windows=0, scored=0, stored=0, skipped=0, consent_missing=False, model_version=None
                )
            offsets = [offset_of(w.end_ms) for w in ready]
            features = extract_many(ready, offsets)
            out = model.score(features)
            scores = [
                WindowScore(
                    end_ms=w.end_ms,
                    stress_prob=float(out.stress[i]),
                    valence=float(out.valence[i]),
                    arousal=float(out.arousal[i]),
                    model_version=out.model_version,
                )
                for i, w in enumerate(ready)
            ]
            try:
                stored = store(scores, offsets)
            except ConsentRequired:
                # Revoked while these windows were being scored: what it covered goes.
                return self._without_consent(now_ms)
            self._keep_pending(later)
            return self._report(
                windows=len(ready),
                scored=len(scores),
                stored=stored,
                skipped=len(scores) - stored,
                consent_missing=False,
                model_version=out.model_version,
            )
