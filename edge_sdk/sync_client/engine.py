"""The sync engine: push the outbox and pull changes, one exchange at a time, over a Transport.

The engine knows the protocol (``sync/``) and the local store, not HTTP: it hands bytes to a
:class:`~edge_sdk.sync_client.transport.Transport` and reads status, headers and bytes back.

One ``sync()``:

* raises :class:`DeviceRevoked` at once, without the network, when an earlier call lost the
  identity and no re-enrollment provider is configured;
* returns at once while an earlier failure's backoff runs (unless ``force``);
* loops over exchanges: each pushes the next outbox batch (ascending seq, <= ``push_batch``
  mutations, the whole encoded request <= ``push_max_bytes``) and pulls from the cursor, while
  anything is pending (and the last push made progress) or the cloud says ``has_more``;
* applies each reply in one local transaction (protocol §6.2): rollback check, delete the
  acknowledged outbox rows, record rejections, apply the page of changes, save ``last_seq``,
  skew and the cursor; crash points sit only between local transactions;
* skips changes of types this build does not know; a change of a known type that fails to
  decode is a cloud defect: only the acknowledgement is applied (no change, no cursor) and
  :class:`ProtocolError` is raised after scheduling a backoff;
* on a gap answer resends from ``expected_seq`` -- seqs below the first pending one (the
  cloud lost them) go as ``Withdrawn`` tombstones, batch after batch, so the device can never
  stall; a gap answer for a seq already resent in this call is a :class:`ProtocolError`;
* on 401 refreshes once and retries once; on 429/503 waits ``Retry-After`` without counting a
  failure; on 413 halves the batch (count and bytes) for the rest of the call and retries; on
  network errors and 5xx backs off exponentially with full jitter, persisted in the store.

A reply acknowledging a seq above the highest this store allocated, or ``409 seq_conflict``
(the cloud processed another mutation at a seq being pushed), raises
:class:`DeviceStateRolledBack`. ``403 device_revoked`` or a refused refresh loses the identity:
the store discards its tokens and raises :class:`DeviceRevoked`. In both cases a re-enrollment
provider lets the engine take a new identity that replaces the old one (same lineage on the
cloud, so no aggregate is stored twice), re-queue what was pending and sync on, reporting it
in the outcome.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from edge_sdk.crashpoints import crashpoint
from edge_sdk.errors import (
    AuthenticationFailed,
    DeviceRevoked,
    DeviceStateRolledBack,
    EdgeError,
    NotEnrolled,
    ProtocolError,
    ServerUnavailable,
    TransportError,
)
from edge_sdk.settings import EdgeSettings
from edge_sdk.store.local import LocalStore, SyncState
from edge_sdk.sync_client.auth import DeviceAuth, error_code, raise_if_unavailable
from edge_sdk.sync_client.outcome import SyncOutcome, SyncStatus
from edge_sdk.sync_client.transport import SYNC_PATH, Transport, TransportRequest, TransportResponse
from sync.codec import (
    CodecError,
    MediaType,
    decode_change,
    decode_reply_envelope,
    encode_mutation,
    encode_request_raw,
    media_type_of,
)
from sync.codes import ErrorCode
from sync.limits import PROTOCOL_VERSION
from sync.messages import AnyChange, SyncEnvelope, SyncReplyEnvelope, Withdrawn
from sync.push import Next, filler_seqs, next_push
from sync.timing import backoff_delay_s, clock_skew_ms

ReenrollProvider = Callable[[], str]
"""Returns a fresh enrollment code obtained by the host app (e.g. from its own backend)."""


@dataclass(slots=True)
class _Budget:
    """How much one push may carry; halved for the rest of a ``sync()`` after a 413."""

    count: int
    max_bytes: int


@dataclass(frozen=True, slots=True)
class _Batch:
    """One encoded request and what it pushes."""

    body: bytes
    seqs: list[int]
    """Pushed seqs, in order."""
    fillers: int
    """How many of them (at the front) are ``Withdrawn`` tombstones for seqs the cloud lost."""


@dataclass(frozen=True, slots=True)
class _DecodedChanges:
    changes: list[AnyChange]
    unknown: int
    """Changes of types this build does not know, left out."""
    malformed: str | None
    """Why a change could not be decoded (a cloud defect); ``None`` when all could."""


class SyncEngine:
    """Runs ``sync()`` for one store. Thread-safe: concurrent calls run one after the other."""

    def __init__(
        self,
        store: LocalStore,
        transport: Transport,
        settings: EdgeSettings,
        auth: DeviceAuth,
        reenroll: ReenrollProvider | None = None,
        model_version: Callable[[], str | None] = lambda: None,
    ) -> None:
        self._store = store
        self._model_version = model_version
        self._transport = transport
        self._settings = settings
        self._auth = auth
        self._reenroll = reenroll
        self._lock = threading.Lock()

    # --- entry point -------------------------------------------------------------

    def sync(self, force: bool = False) -> SyncOutcome:
        """Push the outbox and pull until up to date; see the module docstring."""
        with self._lock:
            state = self._store.state()
            if state.device_id is None:
                raise NotEnrolled("no device identity; call enroll() first")
            if state.identity_lost is not None and self._reenroll is None:
                # Its tokens are gone and the cloud refuses it: nothing to send (protocol §4.3).
                raise DeviceRevoked(state.identity_lost, "identity lost earlier; enroll again")
            now = self._settings.clock_ms()
            if not force and state.next_attempt_at is not None and now < state.next_attempt_at:
                return SyncOutcome(SyncStatus.BACKING_OFF, next_attempt_at=state.next_attempt_at)
            outcome = SyncOutcome(SyncStatus.SYNCED)
            try:
                try:
                    if self._reenroll is not None and (
                        state.replacing_device_id is not None or state.identity_lost is not None
                    ):
                        # The identity was lost, or an earlier re-enrollment did not finish (the
                        # cloud may already have revoked the old identity): never sync with it.
                        self._replace_identity(outcome)
                    hint = self._run(outcome)
                except DeviceStateRolledBack as exc:
                    if self._reenroll is None:
                        raise
                    outcome.rolled_back = exc
                    hint = self._resync_as_new_identity(outcome)
                except DeviceRevoked as exc:
                    if self._reenroll is None:
                        raise
                    outcome.revoked = exc
                    hint = self._resync_as_new_identity(outcome)
            except (TransportError, ServerUnavailable) as exc:
                self._schedule_retry(exc, outcome)
                return outcome
            except (ProtocolError, AuthenticationFailed) as exc:
                # Retrying at once would fail the same way; back off, then let the host see it.
                self._schedule_retry(exc, outcome)
                raise
            if outcome.status is not SyncStatus.WIPED:
                self._store.record_success(self._settings.clock_ms(), hint)
            return outcome

    # --- failures ----------------------------------------------------------------

    def _schedule_retry(self, exc: EdgeError, outcome: SyncOutcome) -> None:
        failures = self._store.state().consecutive_failures
        if isinstance(exc, ServerUnavailable) and exc.retry_after_s is not None:
            # The cloud said when to come back (429/503 with Retry-After): that is pacing, not a
            # failure, so the backoff exponent stays where it is (protocol §7).
            delay_s = exc.retry_after_s
        else:
            failures += 1
            delay_s = backoff_delay_s(
                failures, self._settings.random(), self._settings.backoff_base_s, self._settings.backoff_cap_s
            )
        next_attempt_at = self._settings.clock_ms() + int(delay_s * 1000)
        crashpoint("after-failure-before-backoff")
        self._store.record_failure(failures, next_attempt_at, f"{type(exc).__name__}: {exc}")
        outcome.status = SyncStatus.RETRY_SCHEDULED
        outcome.next_attempt_at = next_attempt_at
        outcome.error = exc

    def _resync_as_new_identity(self, outcome: SyncOutcome) -> int | None:
        self._replace_identity(outcome)
        crashpoint("after-reenroll-before-resync")
        return self._run(outcome)

    def _replace_identity(self, outcome: SyncOutcome) -> None:
        """Enroll a new identity that replaces the store's current (rolled-back or lost) one."""
        assert self._reenroll is not None
        tokens, requeued = self._auth.replace_identity(self._reenroll)
        outcome.requeued = requeued
        outcome.reenrolled_device_id = tokens.device_id

    # --- the exchange loop -------------------------------------------------------

    def _run(self, outcome: SyncOutcome) -> int | None:
        """Exchange until done; returns when the cloud suggests syncing next (device ms)."""
        expected: int | None = None
        # ``expected_seq`` of every gap answer already resent in this call: the cloud asking
        # for one again (even after asking for others in between) would loop forever.
        resent: set[int] = set()
        budget = _Budget(self._settings.push_batch, self._settings.push_max_bytes)
        cursor_reset = False
        hint: int | None = None
        while True:
            if outcome.exchanges >= self._settings.max_exchanges:
                outcome.status = SyncStatus.MORE_PENDING
                return hint
            state = self._store.state()
            if state.device_id is None:
                raise NotEnrolled("device identity erased during sync")
            batch = self._build_batch(state, expected, budget)
            crashpoint("before-send")
            sent_at = self._settings.clock_ms()
            try:
                response = self._post(batch.body)
            except ProtocolError as exc:
                if exc.code == ErrorCode.INVALID_CURSOR and not cursor_reset:
                    # The cloud does not know our cursor (its data was restored or migrated):
                    # rebuild the mirror from the start rather than stall forever.
                    cursor_reset = True
                    self._store.reset_cursor()
                    continue
                if exc.status == 413 and len(batch.seqs) > 1:
                    # Something on the way enforces a smaller limit than ours: halve the batch
                    # for the rest of this call. Each retry pushes fewer mutations, so it ends.
                    budget.count = max(1, len(batch.seqs) // 2)
                    budget.max_bytes = max(1, budget.max_bytes // 2)
                    continue
                raise
            received_at = self._settings.clock_ms()
            outcome.exchanges += 1
            reply = self._decode_reply(response)
            decoded = self._decode_changes(reply, response)
            crashpoint("after-push-before-ack")
            applied = self._store.apply_reply(
                last_seq=reply.last_seq,
                results=reply.results,
                # A change that fails to decode: the reply's changes and cursor are not applied
                # (protocol §6.4); the acknowledgement part is still safe to apply.
                changes=decoded.changes if decoded.malformed is None else None,
                cursor=reply.cursor,
                skew_ms=clock_skew_ms((sent_at + received_at) // 2, reply.server_time),
                now_ms=received_at,
            )
            outcome.pushed += applied.deleted
            outcome.rejected.extend(applied.rejected)
            if decoded.malformed is not None:
                raise ProtocolError(
                    f"sync reply carries an undecodable change ({decoded.malformed}); "
                    "its changes and cursor were not applied",
                    status=response.status,
                )
            outcome.pulled += applied.applied
            outcome.skipped_changes += applied.skipped + decoded.unknown
            if applied.wiped:
                outcome.status = SyncStatus.WIPED
                return None
            crashpoint("after-apply-before-next")
            hint = received_at + reply.next_sync_after_s * 1000
            step = next_push(
                pushed=batch.seqs,
                fillers=batch.fillers,
                last_seq=reply.last_seq,
                expected_seq=reply.expected_seq,
                has_more=reply.has_more,
                # Only read when the rule needs it (no more to pull after a push): one query less
                # per exchange of a mirror rebuild.
                pending=not reply.has_more and bool(batch.seqs) and self._store.pending_count() > 0,
                resent=frozenset(resent),
            )
            if step.action is Next.ASKED_AGAIN:
                raise ProtocolError(f"cloud keeps asking for seq {step.expected} after it was resent")
            if step.action is Next.PROCESSED_NONE:
                raise ProtocolError(
                    f"cloud processed none of seqs {batch.seqs[0]}..{batch.seqs[-1]} and reported no gap"
                )
            expected = step.expected
            if step.action is Next.RESEND:
                assert step.expected is not None
                resent.add(step.expected)
                continue
            if step.action is Next.CONTINUE:
                continue
            return hint

    def _build_batch(self, state: SyncState, expected: int | None, budget: _Budget) -> _Batch:
        """The next request: tombstones from ``expected`` (if the cloud lost seqs), then outbox rows."""
        limit = budget.count
        now = self._settings.clock_ms()
        pushed: list[tuple[int, bytes]] = []
        if expected is not None:
            seqs = filler_seqs(expected, self._store.first_pending_seq(), state.highest_seq_allocated, limit)
            pushed.extend((seq, encode_mutation(Withdrawn(seq=seq, created_at=now))) for seq in seqs)
        fillers = len(pushed)
        if fillers < limit:
            # The store cuts by stored (msgpack) size only to bound what it reads; the exact
            # fit is measured below on the request as it will be sent.
            rows = self._store.outbox_batch(expected or 0, limit - fillers, budget.max_bytes)
            pushed.extend((r.seq, r.mutation) for r in rows)
        wire = [self._wire_mutation(data) for _, data in pushed]
        body, kept = self._fit_request(state, wire, budget.max_bytes, now)
        return _Batch(body, [seq for seq, _ in pushed[:kept]], min(fillers, kept))

    def _wire_mutation(self, data: bytes) -> bytes:
        """A stored (msgpack) mutation in the media type of the request."""
        if self._settings.media_type is MediaType.MSGPACK:
            return data
        # Re-encoded as JSON without re-validating it: it was validated when it was queued.
        return msgspec.json.encode(msgspec.msgpack.decode(data))

    def _fit_request(
        self, state: SyncState, wire: list[bytes], max_bytes: int, device_time: int
    ) -> tuple[bytes, int]:
        """The encoded request with as many of ``wire`` as fit in ``max_bytes`` (at least one)."""
        size = len(self._encode_request(state, [], device_time))
        kept = 0
        for data in wire:
            # One byte more per item covers a JSON comma or msgpack's array header growing.
            size += len(data) + 1
            if kept and size > max_bytes:
                break
            kept += 1
        body = self._encode_request(state, wire[:kept], device_time)
        while kept > 1 and len(body) > max_bytes:
            kept -= 1
            body = self._encode_request(state, wire[:kept], device_time)
        return body, kept

    def _encode_request(self, state: SyncState, wire: list[bytes], device_time: int) -> bytes:
        assert state.device_id is not None
        envelope = SyncEnvelope(
            protocol=PROTOCOL_VERSION,
            device_id=state.device_id,
            device_time=device_time,
            push=[msgspec.Raw(data) for data in wire],
            cursor=state.cursor,
            pull_limit=self._settings.pull_limit,
            locale=self._settings.locale,
            model_version=self._model_version(),
        )
        return encode_request_raw(envelope, self._settings.media_type)

    def _send(self, body: bytes, token: str) -> TransportResponse:
        return self._transport.send(TransportRequest(SYNC_PATH, body, str(self._settings.media_type), token))

    def _post(self, body: bytes) -> TransportResponse:
        """Send with a valid token; on 401 refresh once and retry once. Returns only a 200."""
        token = self._auth.access_token()
        response = self._send(body, token)
        if response.status == 401:
            token = self._auth.refresh(token)
            response = self._send(body, token)
            if response.status == 401:
                code, detail = error_code(response)
                raise AuthenticationFailed(code, detail)
        if response.status == 200:
            return response
        raise_if_unavailable(response, self._settings.clock_ms())
        code, detail = error_code(response)
        if code == ErrorCode.DEVICE_REVOKED:
            # The identity is gone for good (protocol §4.3): never present these tokens again.
            self._store.lose_identity(code)
            raise DeviceRevoked(code, detail)
        if response.status == 409 and code == ErrorCode.SEQ_CONFLICT:
            # The cloud processed another mutation at a seq we push: this store was restored
            # from a backup, exactly as when a reply acknowledges more than we allocated.
            raise DeviceStateRolledBack(None, self._store.state().highest_seq_allocated, detail)
        raise ProtocolError(
            f"sync refused: HTTP {response.status} {code}" + (f": {detail}" if detail else ""),
            status=response.status,
            code=code,
        )

    def _media_of(self, response: TransportResponse) -> MediaType:
        return media_type_of(response.header("content-type")) or self._settings.media_type

    def _decode_reply(self, response: TransportResponse) -> SyncReplyEnvelope:
        try:
            return decode_reply_envelope(response.body, self._media_of(response))
        except CodecError as exc:
            raise ProtocolError(f"undecodable sync reply: {exc}", status=response.status) from exc

    def _decode_changes(self, reply: SyncReplyEnvelope, response: TransportResponse) -> _DecodedChanges:
        """Known changes in order; unknown types are counted and left out (protocol §6.4).

        Skipping an unknown type keeps the cursor moving: a change this build cannot read
        would otherwise block every later change forever. A change that is not even a tagged
        message, or of a known type but invalid, is a cloud defect instead: reported in
        ``malformed`` so that none of the reply's changes is applied.
        """
        media = self._media_of(response)
        changes: list[AnyChange] = []
        unknown = 0
        for index, raw in enumerate(reply.changes):
            try:
                change = decode_change(raw, media)
            except CodecError as exc:
                return _DecodedChanges(changes, unknown, f"change #{index}: {exc}")
            if change is None:
                unknown += 1
            else:
                changes.append(change)
        return _DecodedChanges(changes, unknown, None)
