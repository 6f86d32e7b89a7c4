"""The public facade of the edge SDK.

Every write goes to the local store first and returns without touching the network; the
readers return the local mirror with pending mutations overlaid; :meth:`EdgeClient.sync`
exchanges with the cloud when the host app decides (a timer, a push ping, connectivity).

    client = EdgeClient(EdgeSettings(base_url="https://api.example.com", db_path="ec.db"))
    client.enroll(code)                       # once, with a code from the lender's backend
    client.set_consent(ConsentScope.INFERENCE, True)
    client.set_consent(ConsentScope.SHARE_AGGREGATES, True)
    client.record(events)                     # any thread, cheap: raw events into memory only
    client.process()                          # worker: windows -> features -> model -> stored scores
    client.release_daily_aggregates()         # complete days -> randomized response -> outbox
    client.accept_offer(offer_id)             # offline is fine
    client.offers()                           # -> the offer shows status "accepting"
    outcome = client.sync()                   # push + pull; never raises for a lost network

Threads. Every method may be called from any thread: the store serialises its users, ``sync()``
calls run one after the other, and so do ``process()`` calls. ``record()`` is the one meant for
the host's input and sensor callbacks: it only validates and appends in memory. Everything else
does blocking SQLite (and ``sync``/``enroll`` HTTP) I/O, and ``process()`` runs the model: call
them from a background worker, never the UI thread.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import msgspec

from edge_sdk.capture.events import Event
from edge_sdk.errors import InvalidMutation
from edge_sdk.inference.loader import InferenceEngine
from edge_sdk.overlay import OVERLAID_TYPES, overlay_consent, overlay_notices, overlay_offers
from edge_sdk.pipeline import CaptureStatus, EdgePipeline, ProcessReport
from edge_sdk.privacy import daily
from edge_sdk.privacy.consent import ConsentGate, require
from edge_sdk.privacy.errors import InvalidTzOffset, InvalidWindowScores
from edge_sdk.privacy.ledger import PrivacyLedger, read_ledger
from edge_sdk.privacy.scores import WindowScore, check_scores, local_day
from edge_sdk.privacy.settings import PrivacySettings
from edge_sdk.releases import ModelUpdate, ModelUpdater, default_release_dir
from edge_sdk.settings import EdgeSettings, PipelineSettings
from edge_sdk.store import mirror
from edge_sdk.store import privacy as privacy_tables
from edge_sdk.store.local import LocalStore, Rejection, open_store
from edge_sdk.sync_client.auth import DeviceAuth
from edge_sdk.sync_client.engine import ReenrollProvider, SyncEngine
from edge_sdk.sync_client.http import HttpTransport
from edge_sdk.sync_client.outcome import SyncOutcome
from edge_sdk.sync_client.transport import Transport
from edge_sdk.views import ConsentView, NoticeView, OfferView, StatusView
from sync.messages import (
    AcceptOffer,
    AckNotice,
    ConsentScope,
    DeclineOffer,
    Levels,
    Mechanism,
    ModelRelease,
    Mutation,
    Platform,
    Profile,
    RegisterPushToken,
    RequestReview,
    SetConsent,
    SubmitAggregate,
)

_MAX_TZ_OFFSET_MIN = 840


class EdgeClient:
    """One device's SDK instance over one store file.

    :param settings: where the cloud and the store are, and sync pacing.
    :param transport: the network adapter; defaults to :class:`HttpTransport` at
        ``settings.base_url``. Tests and the chaos harness pass their own.
    :param reenroll: returns a fresh enrollment code. When the cloud shows the store was
        rolled back (:class:`~edge_sdk.errors.DeviceStateRolledBack`) or no longer accepts the
        identity (:class:`~edge_sdk.errors.DeviceRevoked`), ``sync()`` re-enrolls with it,
        naming the old identity (the cloud revokes it and keeps aggregates unique across both),
        re-queues every pending mutation under the new identity and reports it in its outcome.
        Without it, ``sync()`` raises the exception.
    :param privacy: retention, minimum windows, ε budget and levels of the daily release
        (:class:`~edge_sdk.privacy.settings.PrivacySettings`; its defaults when omitted).
    :param pipeline: capture windows, model folder, variant and runtime of :meth:`process`
        (:class:`~edge_sdk.settings.PipelineSettings`; the committed model when omitted).
    :param engine: the inference engine :meth:`process` uses (a new one when omitted), e.g. one
        shared by several clients of a process so the model is loaded once.
    """

    def __init__(
        self,
        settings: EdgeSettings,
        *,
        transport: Transport | None = None,
        reenroll: ReenrollProvider | None = None,
        privacy: PrivacySettings | None = None,
        pipeline: PipelineSettings | None = None,
        engine: InferenceEngine | None = None,
    ) -> None:
        self.settings = settings
        self.privacy_settings = privacy or PrivacySettings()
        self.pipeline_settings = pipeline or PipelineSettings()
        self._store = open_store(settings.db_path)
        self._gate = ConsentGate(lambda: self.consent().scopes)
        self._pipeline = EdgePipeline(
            self.pipeline_settings, enabled=self._gate.enabled(ConsentScope.INFERENCE), engine=engine
        )
        self._transport: Transport = transport or HttpTransport(settings.base_url, settings.timeout_s)
        self._owns_transport = transport is None
        self._auth = DeviceAuth(self._store, self._transport, settings)
        self._engine = SyncEngine(
            self._store, self._transport, settings, self._auth, reenroll,
            model_version=self._pipeline.serving_version,
        )  # fmt: skip
        release_dir = self.pipeline_settings.release_dir
        self._updater = ModelUpdater(
            self._store,
            self._transport,
            self._pipeline,
            access_token=self._auth.access_token,
            release_dir=default_release_dir(settings.db_path) if release_dir is None else Path(release_dir),
            clock_ms=settings.clock_ms,
        )
        self._updater.restore()

    # --- lifecycle ---------------------------------------------------------------

    def close(self) -> None:
        """Close the store (and the HTTP transport if this client created it)."""
        if self._owns_transport:
            self._transport.close()
        self._store.close()

    def __enter__(self) -> EdgeClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def store(self) -> LocalStore:
        """The local store (for diagnostics and tests; apps use the methods below)."""
        return self._store

    # --- identity and sync -------------------------------------------------------

    def enroll(self, code: str) -> str:
        """Trade a one-time enrollment code for this device's identity; returns the device id.

        Needs the network. Raises :class:`~edge_sdk.errors.EnrollmentFailed` for a refused code,
        :class:`~edge_sdk.errors.AlreadyEnrolled` if the store has a usable identity, and
        :class:`~edge_sdk.errors.TransportError` when the cloud cannot be reached.
        Mutations written before enrolling are kept and pushed by the first sync.

        After :class:`~edge_sdk.errors.DeviceRevoked` (``status().identity_lost`` is set) this
        enrolls a new identity that replaces the lost one: the cloud keeps both in one lineage
        and the pending mutations are re-queued under the new identity.
        """
        try:
            return self._auth.enroll(code).device_id
        finally:
            self._consent_changed()

    def sync(self, force: bool = False) -> SyncOutcome:
        """Push pending mutations and pull changes until up to date.

        Network failures and busy answers do not raise: the outcome says when the next attempt
        is due, and until then ``sync()`` returns at once unless ``force`` is true.
        Raises :class:`~edge_sdk.errors.NotEnrolled`, :class:`~edge_sdk.errors.DeviceRevoked`
        (without a re-enrollment provider; the loss is stored, so later calls raise it at once),
        :class:`~edge_sdk.errors.DeviceStateRolledBack` (without a re-enrollment provider),
        :class:`~edge_sdk.errors.AuthenticationFailed` and :class:`~edge_sdk.errors.ProtocolError`.
        """
        try:
            return self._engine.sync(force=force)
        finally:
            # A pulled ``ConsentState`` (another device of the user) may have changed consent.
            self._consent_changed()

    # --- writes (local first, never wait on the network) -------------------------

    def _now(self) -> int:
        return self.settings.clock_ms()

    def submit_aggregate(
        self,
        *,
        day: str,
        tz_offset_min: int,
        window_bucket: int,
        levels: Levels | Mapping[str, Any],
        mechanism: Mechanism | Mapping[str, Any],
        model_version: str,
    ) -> int:
        """Queue one privacy-protected daily aggregate that the caller released; returns its seq.

        Apps normally call :meth:`release_daily_aggregates`, which computes, randomises and
        accounts for the aggregates itself. ``levels`` and ``mechanism`` may be the protocol
        Structs or plain mappings of them. Raises
        :class:`~edge_sdk.privacy.errors.ConsentRequired` (nothing queued) unless the user has
        granted ``share_aggregates``.
        """
        checked_levels = _as_struct(levels, Levels, "levels")
        checked_mechanism = _as_struct(mechanism, Mechanism, "mechanism")
        created_at = self._now()
        # The check and the write share one transaction, so a concurrent revoke cannot pass between.
        with self._store.atomic() as db:
            require(privacy_tables.effective_consent(db), ConsentScope.SHARE_AGGREGATES)
            return self._enqueue(
                lambda seq: SubmitAggregate(
                    seq=seq,
                    created_at=created_at,
                    day=day,
                    tz_offset_min=tz_offset_min,
                    window_bucket=window_bucket,
                    levels=checked_levels,
                    mechanism=checked_mechanism,
                    model_version=model_version,
                )
            )

    def accept_offer(self, offer_id: str) -> int:
        """Accept an offer (offline is fine: ``created_at`` records when); returns the seq."""
        created_at = self._now()
        return self._enqueue(lambda seq: AcceptOffer(seq=seq, created_at=created_at, offer_id=offer_id))

    def decline_offer(self, offer_id: str, reason: str | None = None) -> int:
        """Decline an offer; returns the seq."""
        created_at = self._now()
        return self._enqueue(
            lambda seq: DeclineOffer(seq=seq, created_at=created_at, offer_id=offer_id, reason=reason)
        )

    def set_consent(self, scope: ConsentScope | str, granted: bool) -> int:
        """Grant or revoke one consent scope; returns the seq.

        Revoking erases on the device what the scope covered, in the same local transaction as
        the queued ``SetConsent``: ``share_aggregates`` turns every aggregate still in the outbox
        into a ``Withdrawn`` tombstone under its seq (nothing leaves, the seqs stay gapless; the
        cloud deletes what it holds when it applies the revoke); ``inference`` deletes every
        stored window score and discards the events and windows held in memory.
        """
        if not isinstance(granted, bool):
            raise InvalidMutation(f"granted must be a bool, got {type(granted).__name__}")
        try:
            checked = ConsentScope(scope)
        except ValueError:
            raise InvalidMutation(f"unknown consent scope {scope!r}") from None
        created_at = self._now()
        try:
            with self._store.atomic() as db:
                seq = self._enqueue(
                    lambda seq: SetConsent(seq=seq, created_at=created_at, scope=checked, granted=granted)
                )
                if not granted and checked is ConsentScope.SHARE_AGGREGATES:
                    privacy_tables.withdraw_aggregates(db)
                elif not granted and checked is ConsentScope.INFERENCE:
                    privacy_tables.delete_scores(db)
                return seq
        finally:
            self._consent_changed()

    def register_push_token(self, token: str, platform: Platform | str | None = None) -> int:
        """Register this device's push token (FCM/APNs); returns the seq."""
        try:
            chosen = self.settings.platform if platform is None else Platform(platform)
        except ValueError:
            raise InvalidMutation(f"unknown platform {platform!r}") from None
        created_at = self._now()
        return self._enqueue(
            lambda seq: RegisterPushToken(seq=seq, created_at=created_at, token=token, platform=chosen)
        )

    def ack_notice(self, notice_id: str) -> int:
        """Mark a notice read; returns the seq."""
        created_at = self._now()
        return self._enqueue(lambda seq: AckNotice(seq=seq, created_at=created_at, notice_id=notice_id))

    def request_review(self, offer_id: str, note: str | None = None) -> int:
        """Ask a person to review the automated decision behind an offer (LGPD art. 20, GDPR art. 22);
        returns the seq. The answer arrives as a ``review_completed`` notice."""
        created_at = self._now()
        return self._enqueue(
            lambda seq: RequestReview(seq=seq, created_at=created_at, offer_id=offer_id, note=note)
        )

    def _enqueue(self, build: Callable[[int], Mutation]) -> int:
        return self._store.enqueue(build).seq

    # --- privacy: window scores, daily release, ledger ---------------------------

    def _consent_changed(self) -> None:
        """Refresh the consent gate; without ``inference``, erase what it covered.

        ``set_consent`` erases the stored scores in its own transaction; a revoke pulled from
        another device of the user arrives through ``sync``, so the scores go here, in a
        transaction that checks the revoke still holds.
        """
        had_inference = self._gate.allows(ConsentScope.INFERENCE)
        self._gate.refresh()
        if self._gate.allows(ConsentScope.INFERENCE):
            return
        self._pipeline.clear()
        if had_inference:
            with self._store.atomic() as db:
                if not privacy_tables.effective_consent(db).get(str(ConsentScope.INFERENCE), False):
                    privacy_tables.delete_scores(db)

    def consent_gate(self) -> ConsentGate:
        """The consent gate of this client, kept current by ``set_consent``, ``sync`` and ``enroll``.

        ``gate.enabled(ConsentScope.INFERENCE)`` is the predicate the capture recorder takes.
        """
        return self._gate

    def _offset(self, at_ms: int, override: int | None) -> int:
        offset = self.privacy_settings.tz_offset_min(at_ms) if override is None else override
        if isinstance(offset, bool) or not isinstance(offset, int) or abs(offset) > _MAX_TZ_OFFSET_MIN:
            raise InvalidTzOffset(f"tz_offset_min must be an integer in -840..840, got {offset!r}")
        return offset

    def record_window_scores(
        self, scores: Sequence[WindowScore | Mapping[str, Any]], *, tz_offset_min: int | None = None
    ) -> int:
        """Store the model's scores of finished windows on the device; returns how many were stored.

        Each window is filed under its local day (``tz_offset_min``, else
        ``PrivacySettings.tz_offset_min`` at the window's end). Windows already past the
        retention period are not stored. Raises
        :class:`~edge_sdk.privacy.errors.InvalidWindowScores` for a malformed, out-of-range,
        future or already stored window and :class:`~edge_sdk.privacy.errors.ConsentRequired`
        without the ``inference`` scope; either way nothing of the batch is stored.
        """
        now = self._now()
        checked = check_scores(scores, now)
        offsets = [self._offset(score.end_ms, tz_offset_min) for score in checked]
        return self._store_scores(checked, offsets, now, skip_stored=False)

    def _store_scores(
        self, scores: Sequence[WindowScore], offsets: Sequence[int], now: int, *, skip_stored: bool
    ) -> int:
        """Store checked ``scores`` under their local days; windows past retention are left out and
        already stored ones refused (``skip_stored``: left out). Needs ``inference``."""
        horizon = now - self.privacy_settings.retention_ms
        rows = [
            privacy_tables.ScoreRow(
                end_ms=score.end_ms,
                local_day=local_day(score.end_ms, offset),
                tz_offset_min=offset,
                stress_prob=score.stress_prob,
                valence=score.valence,
                arousal=score.arousal,
                model_version=score.model_version,
            )
            for score, offset in zip(scores, offsets, strict=True)
            if score.end_ms >= horizon
        ]
        with self._store.atomic() as db:
            require(privacy_tables.effective_consent(db), ConsentScope.INFERENCE)
            stored = privacy_tables.stored_end_ms(db, (r.end_ms for r in rows))
            if stored and not skip_stored:
                raise InvalidWindowScores(f"windows ending at {sorted(stored)[:5]} are already stored")
            rows = [r for r in rows if r.end_ms not in stored]
            privacy_tables.insert_scores(db, rows)
        return len(rows)

    # --- the on-device pipeline: events -> windows -> features -> model -> scores ---

    def record(self, batch: Sequence[Event | Mapping[str, Any]]) -> int:
        """Hand raw events to capture; returns how many were kept. Cheap, any thread.

        ``batch`` holds :mod:`edge_sdk.capture` events (``KeyEvent``, ``TouchEvent``,
        ``MotionEvent``, ``AppEvent``) or mappings of them with their ``type`` tag
        (``{"type": "key", "down_ms": ..., "up_ms": ..., "key_class": "character"}``, as a bridge
        decodes them). Events stay in memory only: no disk, no inference, never sent.
        Without the ``inference`` scope the batch is dropped unread and counted (returns 0).
        Raises an :class:`~edge_sdk.capture.errors.InvalidEvent` subclass naming the first bad
        event (wrong type, NaN, out of range, time going backwards); nothing of the batch is kept.
        """
        return self._pipeline.record(batch)

    def process(self, now_ms: int | None = None, *, tz_offset_min: int | None = None) -> ProcessReport:
        """Score the activity windows closed by ``now_ms`` (the device clock when omitted) and store
        the scores on the device, as :meth:`record_window_scores` would.

        Windows are cut from the recorded events, turned into feature vectors (time of day at
        ``tz_offset_min``, else ``PrivacySettings.tz_offset_min`` at each window's end) and scored
        in one batch by the model, which is loaded and verified on the first call
        (``PipelineSettings``). Call it from a background worker every few minutes or when the app
        goes to the background; the daily release stays :meth:`release_daily_aggregates`.

        Raises a :class:`~edge_sdk.inference.errors.ModelError` subclass when the model cannot
        serve (:class:`~edge_sdk.pipeline.ModelUnavailable` for unreadable files,
        ``ModelHashMismatch`` and the others for a failed check); the events stay buffered for a
        later call and nothing is stored. Without ``inference`` nothing is scored and what was
        buffered is discarded (``consent_missing`` in the report).
        """
        now = self._now() if now_ms is None else now_ms
        return self._pipeline.process(
            now,
            offset_of=lambda end_ms: self._offset(end_ms, tz_offset_min),
            store=lambda scores, offsets: self._store_scores(scores, offsets, now, skip_stored=True),
        )

    def install_model(self, folder: str | Path, variant: str | None = None) -> str:
        """Verify the model in ``folder`` (manifest, SHA-256, signature, probe) and make it the one
        :meth:`process` uses; returns its version. A refused model raises its named
        :class:`~edge_sdk.inference.errors.ModelError` and the serving model stays."""
        return self._pipeline.install_model(folder, variant).model_version

    def capture_status(self) -> CaptureStatus:
        """Events buffered, windows waiting, drop counters and the serving model (in memory only)."""
        return self._pipeline.status()

    def window_scores(self) -> list[WindowScore]:
        """Every window score held on the device, oldest first (the user's own data; never sent)."""
        with self._store.atomic() as db:
            rows = privacy_tables.read_scores(db)
        return [
            WindowScore(
                end_ms=r.end_ms,
                stress_prob=r.stress_prob,
                valence=r.valence,
                arousal=r.arousal,
                model_version=r.model_version,
            )
            for r in rows
        ]

    def purge_expired(self, now_ms: int | None = None) -> int:
        """Erase window scores and acknowledged notices past their retention periods
        (``release_daily_aggregates`` does it too); returns how many rows went."""
        now = self._now() if now_ms is None else now_ms
        settings = self.privacy_settings
        with self._store.atomic() as db:
            scores = privacy_tables.purge_scores(db, now - settings.retention_ms)
            return scores + mirror.purge_acked_notices(db, now - settings.notice_retention_ms)

    def release_daily_aggregates(
        self, now_ms: int | None = None, *, tz_offset_min: int | None = None
    ) -> daily.ReleaseReport:
        r"""Release every complete local day not yet decided, as randomized ``SubmitAggregate`` rows.

        Purges expired scores first. Days before today (on the local clock: ``tz_offset_min``,
        else ``PrivacySettings.tz_offset_min`` at ``now_ms``) with at least ``min_windows``
        windows are discretised, randomised (k-ary randomized response) and queued, each with its
        ε ledger entry in the same transaction; days with fewer windows are recorded as not
        released; days that would exceed the lifetime ε cap are skipped. Without
        ``share_aggregates`` nothing is decided or queued (``consent_missing`` in the report).
        Call it once a day or whenever convenient: a day is released at most once.
        """
        now = self._now() if now_ms is None else now_ms
        offset = self._offset(now, tz_offset_min)
        return daily.release(self._store, self.privacy_settings, now_ms=now, tz_offset_min=offset)

    def privacy_ledger(self) -> PrivacyLedger:
        """ε spent per local day and in total, against the lifetime cap."""
        return read_ledger(self._store, self.privacy_settings)

    # --- readers (mirror + pending overlay) --------------------------------------

    def offers(self) -> list[OfferView]:
        """Offers from the mirror; a pending accept shows ``accepting``, a pending decline ``declining``."""
        return overlay_offers(self._store.mirror_offers(), self._store.pending(OVERLAID_TYPES))

    def profile(self) -> Profile | None:
        """The credit profile as last pulled, or ``None`` before the cloud sent one."""
        row = self._store.mirror_profile()
        return row.profile if row else None

    def notices(self) -> list[NoticeView]:
        """Notices from the mirror; a pending acknowledgement shows as acked."""
        return overlay_notices(self._store.mirror_notices(), self._store.pending(OVERLAID_TYPES))

    def consent(self) -> ConsentView:
        """Every consent scope, with pending ``set_consent`` calls applied."""
        return overlay_consent(self._store.mirror_consent(), self._store.pending(OVERLAID_TYPES))

    def update_model(self) -> ModelUpdate:
        """Install the newest model release the cloud announced (spec §5.9), if it is not the one
        running: its signature under the pinned ``PipelineSettings.release_public_key``, its
        number (above the running one) and feature spec are checked before anything is fetched;
        the fetched manifest and model file must then pass every check of :meth:`install_model`.
        Needs the network. On any failure the serving model keeps serving and the named error is
        raised: :class:`~edge_sdk.inference.errors.ReleaseRefused` (with its ``reason``),
        :class:`~edge_sdk.inference.errors.ModelDownloadFailed`, or the loader's
        :class:`~edge_sdk.inference.errors.ModelError`; like :meth:`sync`, it may raise
        :class:`~edge_sdk.errors.NotEnrolled` or :class:`~edge_sdk.errors.DeviceRevoked` when it
        needs a fresh access token and cannot have one. An installed release serves after a
        restart too; run this from the same background worker as :meth:`process`, after a sync."""
        return self._updater.update()

    def model_releases(self) -> list[ModelRelease]:
        """Model releases the cloud announced, oldest first."""
        return self._store.mirror_models()

    def rejections(self) -> list[Rejection]:
        """Mutations the cloud processed and refused, with its reason codes."""
        return self._store.rejections()

    def erase_local_data(self) -> None:
        """Erase everything this device holds: outbox, mirror, window scores, credentials, identity,
        and the events and windows buffered in memory. The ε ledger stays: the lifetime cap holds
        for the life of the install, as after a ``Wipe``. Pending mutations are lost; the
        caller decides first whether to sync them (``mobile_bridge`` refuses while an accepted
        offer is undelivered). The device enrolls again to be used."""
        self._pipeline.clear()
        self._store.wipe()
        # No consent survives the wipe: capture stops until the user grants it again.
        self._consent_changed()

    def status(self) -> StatusView:
        """Identity, outbox size and sync timing, from the store alone."""
        state = self._store.state()
        return StatusView(
            enrolled=state.device_id is not None,
            device_id=state.device_id,
            user_id=state.user_id,
            pending=self._store.pending_count(),
            last_seq_acked=state.last_seq_acked,
            highest_seq_allocated=state.highest_seq_allocated,
            last_sync_at=state.last_sync_at,
            next_attempt_at=state.next_attempt_at,
            next_sync_hint_at=state.next_sync_hint_at,
            consecutive_failures=state.consecutive_failures,
            skew_ms=state.skew_ms,
            last_error=state.last_error,
            rejected=len(self._store.rejections()),
            identity_lost=state.identity_lost,
        )


_S = TypeVar("_S", bound=msgspec.Struct)


def _as_struct(value: object, kind: type[_S], name: str) -> _S:
    """``value`` as a ``kind`` Struct, converting (and validating) a plain mapping."""
    if isinstance(value, kind):
        return value
    try:
        return msgspec.convert(value, kind)
    except msgspec.ValidationError as exc:
        raise InvalidMutation(f"`{name}`: {exc}") from exc
