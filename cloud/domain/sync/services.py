"""The sync exchange (DESIGN §4): decode, check, apply the push in one transaction, pull a page.

The envelope is decoded first and each mutation on its own, so a mutation that fails
validation is rejected alone (and still advances ``last_seq``) while a request whose envelope
is broken changes nothing. Every check that can fail the whole request runs before the store
is touched, except the two the store makes inside its transaction, which then rolls back: a
cursor ahead of the user's log and a processed seq pushed with other content (``seq_conflict``).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable

from cloud.clock import now_ms
from cloud.domain.consent.rules import changed_at
from cloud.domain.devices.tokens import DeviceClaims
from cloud.domain.sync.digest import decode_pushed
from cloud.errors import (
    DeviceMismatch,
    InvalidBody,
    InvalidCursorError,
    TokenInvalid,
    TooManyMutations,
    UnsupportedProtocol,
)
from cloud.faults import EXIT_AFTER_COMMIT_CODE
from cloud.journal import RightsEvent, RightsJournal
from cloud.metrics import count_results
from cloud.outbox.enqueue import OutboxDispatcher
from cloud.store.errors import DeviceNotFound
from cloud.store.protocol import Store
from cloud.store.records import ItemResult, PushItem
from sync.codec import CodecError, MediaType, decode_change, decode_envelope, peek_seq
from sync.codes import ResultStatus
from sync.limits import MAX_MUTATIONS, SUPPORTED_PROTOCOLS
from sync.locales import resolve_locale
from sync.messages import AnyChange, MutationResult, SetConsent, SyncEnvelope, SyncReply
from sync.pull import (
    INITIAL_EPOCH,
    InvalidCursor,
    change_known_to,
    clamp_pull_limit,
    decode_cursor,
    encode_cursor,
    page_changes,
)
from sync.push import MUTATION_SINCE_PROTOCOL, mutation_known_to
from sync.timing import clock_skew_ms

logger = logging.getLogger(__name__)


def _exit_after_commit() -> None:
    """The ``FAULT_EXIT_AFTER_COMMIT`` hook: end the process as a crash would, no clean-up run."""
    logger.warning("fault exit after commit: outbox rows committed, not enqueued")
    logging.shutdown()
    os._exit(EXIT_AFTER_COMMIT_CODE)


def revocations(
    claims: DeviceClaims, items: list[PushItem], results: list[ItemResult], *, skew_ms: int, now: int
) -> list[RightsEvent]:
    """The consent revocations this exchange applied (a replay or a superseded one is not new)."""
    applied = {
        r.seq for r in results if r.status == ResultStatus.APPLIED and not r.replay and r.detail is None
    }
    return [
        RightsEvent(
            kind="consent_revoked",
            at=changed_at(item.mutation.created_at, skew_ms, now),
            recorded_at=now,
            user_id=claims.user_id,
            scope=item.mutation.scope.value,
            device_id=claims.device_id,
        )
        for item in items
        if isinstance(item.mutation, SetConsent) and not item.mutation.granted and item.seq in applied
    ]


class SyncService:
    def __init__(
        self,
        store: Store,
        next_sync_after_s: int,
        clock: Callable[[], int] = now_ms,
        outbox: OutboxDispatcher | None = None,
        exit_after_commit: bool = False,
        on_change: Callable[[], None] | None = None,
        epoch: str = INITIAL_EPOCH,
        journal: RightsJournal | None = None,
    ) -> None:
        self._store = store
        self._journal = journal
        """Where applied consent revocations are also written, for a restore to replay."""
        self._epoch = epoch
        """The store's epoch (read at start-up: a restore happens with the servers stopped)."""
        self._on_change = on_change
        """Told after a sync that changed something (the dashboard's announcement); must not block."""
        self._next_sync_after_s = next_sync_after_s
        self._clock = clock
        self._outbox = outbox or OutboxDispatcher(None)
        self._exit_after_commit = exit_after_commit
        """Tests only (``FAULT_EXIT_AFTER_COMMIT``): die between the commit and the enqueue."""

    @staticmethod
    def decode(body: bytes, media: MediaType) -> SyncEnvelope:
        try:
            return decode_envelope(body, media)
        except CodecError as exc:
            raise InvalidBody(str(exc)) from exc

    @staticmethod
    def _items(envelope: SyncEnvelope, media: MediaType) -> list[PushItem]:
        items: list[PushItem] = []
        for index, raw in enumerate(envelope.push):
            mutation, digest, error = decode_pushed(bytes(raw), media)
            if mutation is not None and not mutation_known_to(type(mutation).__name__, envelope.protocol):
                # Protocol 1 has no such mutation: it is as undecodable as an unknown type.
                name = type(mutation).__name__
                mutation, error = None, f"{name} needs protocol {MUTATION_SINCE_PROTOCOL[name]}"
            # A valid mutation has a valid seq: only an invalid one is read a second time for it.
            seq = mutation.seq if mutation is not None else peek_seq(raw, media)
            if seq is None or seq < 1:
                # Without a seq the exactly-once rule cannot place the mutation: the request is broken.
                raise InvalidBody(f"push[{index}] has no valid integer seq")
            items.append(PushItem(seq=seq, mutation=mutation, digest=digest, error=error))
        return items

    async def exchange(self, claims: DeviceClaims, body: bytes, media: MediaType) -> SyncReply:
        """Run one exchange for the authenticated device; raises an ``ApiError`` on a bad request."""
        envelope = self.decode(body, media)
        if envelope.protocol not in SUPPORTED_PROTOCOLS:
            raise UnsupportedProtocol(f"protocol {envelope.protocol} is not supported")
        if envelope.device_id != claims.device_id:
            raise DeviceMismatch("device_id differs from the token's device")
        if len(envelope.push) > MAX_MUTATIONS:
            raise TooManyMutations(f"at most {MAX_MUTATIONS} mutations per request")
        try:
            after_version = decode_cursor(envelope.cursor, self._epoch)
        except InvalidCursor as exc:
            raise InvalidCursorError() from exc
        limit = clamp_pull_limit(envelope.pull_limit)
        items = self._items(envelope, media)
        now = self._clock()
        try:
            outcome = await self._store.sync(
                device_id=claims.device_id,
                items=items,
                skew_ms=(skew_ms := clock_skew_ms(envelope.device_time, now)),
                after_version=after_version,
                pull_limit=limit,
                now=now,
                locale=None if envelope.locale is None else resolve_locale(envelope.locale).value,
                model_version=envelope.model_version,
            )
        except DeviceNotFound as exc:
            # A validly signed token for a device the server does not know (its data was restored
            # from a backup older than the enrollment): the identity no longer exists.
            raise TokenInvalid("the token's device does not exist") from exc
        count_results((r.status, r.code) for r in outcome.results)
        if self._journal is not None:
            revoked = revocations(claims, items, outcome.results, skew_ms=skew_ms, now=now)
            if revoked:  # rare: the fsync runs off the event loop
                await asyncio.to_thread(self._journal.append, revoked)
        if self._on_change is not None and (
            outcome.outbox or any(r.status == "applied" for r in outcome.results)
        ):
            self._on_change()
        if self._exit_after_commit and outcome.outbox:
            _exit_after_commit()
        # After the commit, never inside it: a job must not run before its row is visible.
        await self._outbox.dispatch(outcome.outbox)
        if outcome.erased:
            # The Wipe alone, even to a push-only request: the device must erase itself now.
            after_version, limit = 0, max(limit, 1)
        page = page_changes(after_version, [(c.version, c) for c in outcome.changes], limit)
        changes: list[AnyChange] = []
        for stored in page.items:
            # Older clients get only the change types their protocol knows; the cursor still moves past.
            if not change_known_to(stored.type, envelope.protocol):
                continue
            change = decode_change(stored.body)
            if change is not None:
                changes.append(change)
        return SyncReply(
            protocol=envelope.protocol,
            last_seq=outcome.last_seq,
            results=[
                MutationResult(seq=r.seq, status=r.status, code=r.code, detail=r.detail, replay=r.replay)
                for r in outcome.results
            ],
            expected_seq=outcome.expected_seq,
            changes=changes,
            cursor=encode_cursor(page.version, self._epoch),
            has_more=page.has_more,
            server_time=now,
            next_sync_after_s=self._next_sync_after_s,
        )
