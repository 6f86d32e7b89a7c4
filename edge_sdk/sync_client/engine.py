"""The sync engine: push the outbox and pull changes, one exchange at a time, over a Transport.

The engine knows the protocol (``sync/``) and the local store, not HTTP: it hands bytes to a
:class:`~edge_sdk.sync_client.transport.Transport` and reads status, headers and bytes back.

One ``sync()``:

* returns at once while an earlier failure's backoff runs (unless ``force``);
* loops over exchanges: each pushes the next outbox batch (ascending seq, <= ``push_batch``
  mutations and ``push_max_bytes``) and pulls from the cursor, until the outbox is empty and
  the cloud says ``has_more`` is false;
* after each reply: deletes the acknowledged outbox rows, then applies the page of changes
  with its cursor in one transaction (crash points between every two local steps);
* on a gap answer resends from ``expected_seq`` -- seqs below the first pending one (the
  cloud lost them) go as ``Withdrawn`` tombstones so the device can never stall;
* on 401 refreshes once and retries once; on 429/503 waits ``Retry-After``; on network
  errors and 5xx backs off exponentially with full jitter, persisted in the store.

A reply acknowledging a seq above the highest this store allocated raises
:class:`DeviceStateRolledBack`; with a re-enrollment provider the engine takes a new identity
that replaces the old one (same lineage on the cloud, so no aggregate is stored twice),
re-queues what was pending and syncs on, reporting the rollback in the outcome.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

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
from edge_sdk.store.local import LocalStore, OutboxRow, SyncState
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
from sync.timing import backoff_delay_s, clock_skew_ms

ReenrollProvider = Callable[[], str]
"""Returns a fresh enrollment code obtained by the host app (e.g. from its own backend)."""


class SyncEngine:
    """Runs ``sync()`` for one store. Thread-safe: concurrent calls run one after the other."""

    def __init__(
        self,
        store: LocalStore,
        transport: Transport,
        settings: EdgeSettings,
        auth: DeviceAuth,
        reenroll: ReenrollProvider | None = None,
    ) -> None:
        self._store = store
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
            now = self._settings.clock_ms()
            if not force and state.next_attempt_at is not None and now < state.next_attempt_at:
                return SyncOutcome(SyncStatus.BACKING_OFF, next_attempt_at=state.next_attempt_at)
            outcome = SyncOutcome(SyncStatus.SYNCED)
            try:
                try:
                    if state.replacing_device_id is not None and self._reenroll is not None:
                        # An earlier re-enrollment did not finish: the cloud may already have
                        # revoked the old identity, so never sync with it again.
                        self._reenroll_replacing(outcome)
                    hint = self._run(outcome)
                except DeviceStateRolledBack as exc:
                    if self._reenroll is None:
                        raise
                    self._recover_from_rollback(exc, outcome)
                    crashpoint("after-reenroll-before-resync")
                    hint = self._run(outcome)
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
        failures = self._store.state().consecutive_failures + 1
        delay_s: float | None = None
        if isinstance(exc, ServerUnavailable):
            delay_s = exc.retry_after_s
        if delay_s is None:
            delay_s = backoff_delay_s(
                failures, self._settings.random(), self._settings.backoff_base_s, self._settings.backoff_cap_s
            )
        next_attempt_at = self._settings.clock_ms() + int(delay_s * 1000)
        crashpoint("after-failure-before-backoff")
        self._store.record_failure(failures, next_attempt_at, f"{type(exc).__name__}: {exc}")
        outcome.status = SyncStatus.RETRY_SCHEDULED
        outcome.next_attempt_at = next_attempt_at
        outcome.error = exc

    def _recover_from_rollback(self, exc: DeviceStateRolledBack, outcome: SyncOutcome) -> None:
        outcome.rolled_back = exc
        self._reenroll_replacing(outcome)

    def _reenroll_replacing(self, outcome: SyncOutcome) -> None:
        """Enroll a new identity that replaces the store's current (rolled-back) one."""
        assert self._reenroll is not None
        # Recorded before asking: the cloud revokes the old identity as it enrolls the new one.
        old_device_id = self._store.begin_replacement()
        # Naming the old identity puts the new one in its lineage, so an aggregate the old
        # identity already delivered is refused as duplicate_day rather than stored twice.
        tokens = self._auth.request_enrollment(self._reenroll(), replaces_device_id=old_device_id)
        crashpoint("after-reenroll-before-store")
        outcome.requeued = self._store.reenroll(tokens, self._settings.base_url)
        outcome.reenrolled_device_id = tokens.device_id

    # --- the exchange loop -------------------------------------------------------

    def _run(self, outcome: SyncOutcome) -> int | None:
        """Exchange until done; returns when the cloud suggests syncing next (device ms)."""
        expected: int | None = None
        cursor_reset = False
        hint: int | None = None
        while True:
            if outcome.exchanges >= self._settings.max_exchanges:
                outcome.status = SyncStatus.MORE_PENDING
                return hint
            state = self._store.state()
            if state.device_id is None:
                raise NotEnrolled("device identity erased during sync")
            rows, push = self._build_push(state, expected)
            body = self._encode_request(state, push)
            crashpoint("before-send")
            sent_at = self._settings.clock_ms()
            try:
                response = self._post(body)
            except ProtocolError as exc:
                if exc.code == ErrorCode.INVALID_CURSOR and not cursor_reset:
                    # The cloud does not know our cursor (its data was restored or migrated):
                    # rebuild the mirror from the start rather than stall forever.
                    cursor_reset = True
                    self._store.reset_cursor()
                    continue
                raise
            received_at = self._settings.clock_ms()
            outcome.exchanges += 1
            reply = self._decode_reply(response)
            crashpoint("after-push-before-ack")
            skew = clock_skew_ms((sent_at + received_at) // 2, reply.server_time)
            ack = self._store.acknowledge(reply.last_seq, reply.results, skew, received_at)
            outcome.pushed += ack.deleted
            outcome.rejected.extend(ack.rejected)
            crashpoint("after-ack-before-apply")
            changes, undecodable = self._decode_changes(reply, response)
            applied = self._store.apply_page(changes, reply.cursor)
            outcome.pulled += applied.applied
            outcome.skipped_changes += applied.skipped + undecodable
            if applied.wiped:
                outcome.status = SyncStatus.WIPED
                return None
            crashpoint("after-apply-before-next")
            hint = received_at + reply.next_sync_after_s * 1000
            if reply.expected_seq is not None:
                if reply.expected_seq == expected:
                    raise ProtocolError(f"cloud keeps asking for seq {expected} after it was resent")
                expected = reply.expected_seq
                continue
            if push and reply.last_seq < push[0][0]:
                raise ProtocolError(
                    f"cloud processed none of seqs {push[0][0]}..{push[-1][0]} and reported no gap"
                )
            expected = None
            if reply.has_more or (rows and self._store.pending_count() > 0):
                continue
            return hint

    def _build_push(
        self, state: SyncState, expected: int | None
    ) -> tuple[list[OutboxRow], list[tuple[int, bytes]]]:
        """The next batch as (seq, msgpack mutation) pairs, plus the outbox rows in it."""
        limit = self._settings.push_batch
        fillers: list[tuple[int, bytes]] = []
        if expected is not None:
            first = self._store.first_pending_seq()
            stop = min(first if first is not None else state.highest_seq_allocated + 1, expected + limit)
            now = self._settings.clock_ms()
            for seq in range(expected, stop):
                fillers.append((seq, encode_mutation(Withdrawn(seq=seq, created_at=now))))
        rows: list[OutboxRow] = []
        if len(fillers) < limit:
            rows = self._store.outbox_batch(
                expected or 0, limit - len(fillers), self._settings.push_max_bytes
            )
        return rows, fillers + [(r.seq, r.mutation) for r in rows]

    def _encode_request(self, state: SyncState, push: list[tuple[int, bytes]]) -> bytes:
        assert state.device_id is not None
        media = self._settings.media_type
        if media is MediaType.MSGPACK:
            raws = [msgspec.Raw(data) for _, data in push]
        else:
            # The outbox holds msgpack; re-encode each mutation as JSON without re-validating it.
            raws = [msgspec.Raw(msgspec.json.encode(msgspec.msgpack.decode(data))) for _, data in push]
        envelope = SyncEnvelope(
            protocol=PROTOCOL_VERSION,
            device_id=state.device_id,
            device_time=self._settings.clock_ms(),
            push=raws,
            cursor=state.cursor,
            pull_limit=self._settings.pull_limit,
        )
        return encode_request_raw(envelope, media)

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
            raise DeviceRevoked(code, detail)
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

    def _decode_changes(
        self, reply: SyncReplyEnvelope, response: TransportResponse
    ) -> tuple[list[AnyChange], int]:
        """Known changes in order, and how many were left out (unknown type or malformed).

        Skipping rather than failing keeps the cursor moving: a change this build cannot read
        would otherwise block every later change forever.
        """
        media = self._media_of(response)
        changes: list[AnyChange] = []
        skipped = 0
        for raw in reply.changes:
            try:
                change = decode_change(raw, media)
            except CodecError:
                change = None
            if change is None:
                skipped += 1
            else:
                changes.append(change)
        return changes, skipped
