"""The outbox's consumers: the ``apply_offer`` job's transaction and the relay's (scripts over
:class:`~cloud.store.tx.Tx`). The outbox row is what makes a job idempotent: a job
marks its row ``done`` in the transaction that does its work, so a second run of the same job
(a duplicate enqueue, the relay's next attempt racing a slow first one) finds it done and does
nothing. The row, not arq, also counts attempts (DESIGN §7).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import msgspec

from cloud.domain.offers import notices
from cloud.domain.offers.errors import OutboxNotRetryable, OutboxRowNotFound, ProfileMissing
from cloud.domain.offers.notices import NoticeText
from cloud.domain.offers.rules import ApplyVerdict, judge_apply
from cloud.faults import APPLY_IN_TX
from cloud.outbox.kinds import APPLY_OFFER, ApplyOfferPayload, OutboxPayloadInvalid, decode_payload
from cloud.outbox.rules import RelayStep, relay_step
from cloud.push.messages import PushPayload
from cloud.store.records import (
    ApplyOutcome,
    DeadLetterRecord,
    OfferRecord,
    OutboxCount,
    OutboxRecord,
    OutboxState,
    OutboxStats,
    RelayOutcome,
)
from cloud.store.scripts.changelog import user_locale
from cloud.store.scripts.offers import get_offer, get_profile, move_offer, set_profile
from cloud.store.scripts.outbox_rows import OUTBOX_COLUMNS, get_outbox, outbox_record
from cloud.store.scripts.push import queue_push
from cloud.store.scripts.views import append_notice
from cloud.store.tx import Tx
from sync.messages import OfferStatus

WORKER_ACTOR: Final = "worker"
"""Audit actor of every change a job or the relay makes."""


class OfferVanished(LookupError):
    """An ``apply_offer`` outbox row names an offer the store does not have."""


def outbox_after(tx: Tx, outbox_id: int) -> list[OutboxRecord]:
    """Rows with an id above ``outbox_id``, by id."""
    rows = tx.execute(
        f"SELECT {OUTBOX_COLUMNS} FROM outbox WHERE outbox_id > ? ORDER BY outbox_id",  # noqa: S608
        (outbox_id,),
    )
    return [outbox_record(r) for r in rows]


def pending_children(tx: Tx, parent_id: int) -> list[OutboxRecord]:
    """Pending rows the job of row ``parent_id`` queued (its notice's push), for it to enqueue."""
    rows = tx.execute(
        f"SELECT {OUTBOX_COLUMNS} FROM outbox WHERE parent_id = ? AND state = ? ORDER BY outbox_id",  # noqa: S608
        (parent_id, OutboxState.PENDING.value),
    )
    return [outbox_record(r) for r in rows]


def _offer_of(tx: Tx, row: OutboxRecord) -> OfferRecord:
    payload = decode_payload(row.outbox_id, row.kind, row.payload, ApplyOfferPayload)
    offer = get_offer(tx, payload.offer_id)
    if offer is None:
        raise OfferVanished(f"outbox row {row.outbox_id}: no offer {payload.offer_id}")
    return offer


def notify(
    tx: Tx, user_id: str, notice: NoticeText, now: int, *, parent_id: int | None = None
) -> OutboxRecord | None:
    """Store a notice, append its ``Notice`` change and queue its push; the push row, if any.

    The notice reaches the user's devices through sync whatever happens; the push (only with the
    user's ``push`` consent) just tells them sooner. ``parent_id`` names the job row that wrote it.
    """
    append_notice(
        tx,
        user_id=user_id,
        notice_id=notice.notice_id,
        kind=notice.kind.value,
        title=notice.title,
        body=notice.body,
        now=now,
    )
    # The push names the notice only; its text, amounts included, arrives by sync.
    payload = PushPayload(user_id=user_id, notice_id=notice.notice_id, notice_kind=notice.kind.value)
    return queue_push(tx, payload, parent_id=parent_id, now=now)


def _finish(tx: Tx, outbox_id: int, state: OutboxState, now: int, error: str | None) -> None:
    tx.execute(
        "UPDATE outbox SET state = ?, last_error = ?, updated_at = ? WHERE outbox_id = ?",
        (state.value, error, now, outbox_id),
    )


def apply_offer(
    tx: Tx,
    outbox_id: int,
    *,
    ref: str,
    now: int,
    fault_hook: Callable[[str], None] | None = None,
) -> ApplyOutcome:
    """The ``apply_offer`` job's one transaction.

    A row already ``done`` (or ``dead``) is a no-op. Otherwise, when the profile still has the
    limit and rate the offer was made on (:func:`~cloud.domain.offers.rules.judge_apply`), the
    offer goes ``accepted`` → ``applied``, the profile takes the offer's limit and rate (audited,
    ``ProfileUpdate``), a transactional ``limit_applied`` notice is appended, and the row is marked
    ``done``. When the base changed, the offer goes ``failed`` at once (reason ``base_changed``;
    terminal, no retry could make it right), the user gets an ``acceptance_failed`` notice saying
    why, the profile is untouched and the row is ``done``. Raises :class:`OfferVanished`,
    :class:`OutboxPayloadInvalid`, ``ProfileMissing`` or the state machine's ``OfferNotAccepted``
    and changes nothing then (the relay retries, then gives up).
    """
    row = get_outbox(tx, outbox_id)
    if row is None:
        return ApplyOutcome.MISSING
    if row.state != OutboxState.PENDING.value:
        return ApplyOutcome.ALREADY_DONE
    if row.kind != APPLY_OFFER:
        raise OutboxPayloadInvalid(f"outbox row {outbox_id} is a {row.kind}, not {APPLY_OFFER}")
    offer = _offer_of(tx, row)
    # Lock the user, then read the row and the offer again: of two runs of this job racing on two
    # workers, the second finds the row done.
    tx.lock_user(offer.user_id)
    row = get_outbox(tx, outbox_id)
    if row is None or row.state != OutboxState.PENDING.value:
        return ApplyOutcome.ALREADY_DONE
    offer = _offer_of(tx, row)
    profile = get_profile(tx, offer.user_id)
    if profile is None:
        raise ProfileMissing(f"user {offer.user_id} has no credit profile")
    verdict = judge_apply(
        base_limit_cents=offer.current_limit_cents,
        base_rate_bps=offer.base_rate_bps,
        profile_limit_cents=profile.limit_cents,
        profile_rate_bps=profile.rate_bps,
    )
    if verdict is ApplyVerdict.BASE_CHANGED:
        move_offer(
            tx,
            offer,
            OfferStatus.FAILED,
            actor=WORKER_ACTOR,
            reason_code=ApplyVerdict.BASE_CHANGED.value,
            ref=ref,
            now=now,
            detail={
                "base_limit_cents": offer.current_limit_cents,
                "base_rate_bps": offer.base_rate_bps,
                "limit_cents": profile.limit_cents,
                "rate_bps": profile.rate_bps,
            },
        )
        notice = notices.base_changed(
            offer.offer_id,
            base_limit_cents=offer.current_limit_cents,
            base_rate_bps=offer.base_rate_bps,
            limit_cents=profile.limit_cents,
            rate_bps=profile.rate_bps,
            currency=profile.currency,
            locale=user_locale(tx, offer.user_id),
        )
        notify(tx, offer.user_id, notice, now, parent_id=outbox_id)
        _finish(tx, outbox_id, OutboxState.DONE, now, ApplyVerdict.BASE_CHANGED.value)
        return ApplyOutcome.BASE_CHANGED
    move_offer(
        tx, offer, OfferStatus.APPLIED, actor=WORKER_ACTOR, reason_code="offer_applied", ref=ref, now=now
    )
    applied = msgspec.structs.replace(
        profile, limit_cents=offer.new_limit_cents, rate_bps=offer.rate_bps, updated_at=now
    )
    set_profile(tx, applied, actor=WORKER_ACTOR, reason_code="offer_applied", ref=ref)
    if fault_hook is not None:  # fault tests: stop here, offer and profile written, not committed
        fault_hook(APPLY_IN_TX)
    locale = user_locale(tx, offer.user_id)
    notice = notices.limit_applied(offer.offer_id, offer.new_limit_cents, profile.currency, locale)
    notify(tx, offer.user_id, notice, now, parent_id=outbox_id)
    _finish(tx, outbox_id, OutboxState.DONE, now, None)
    return ApplyOutcome.APPLIED


def _dead_letter(tx: Tx, row: OutboxRecord, now: int) -> OutboxRecord | None:
    """After a row went ``dead``: for ``apply_offer`` the offer ``failed`` and the user told.

    Returns the push row queued for that notice, if any.
    """
    if row.kind != APPLY_OFFER:
        return None
    try:
        offer = _offer_of(tx, row)
    except (OutboxPayloadInvalid, OfferVanished):
        return None  # nothing to fail; the row is dead and its error kept
    if offer.status != OfferStatus.ACCEPTED.value:
        return None
    ref = f"outbox:{row.outbox_id}"
    move_offer(
        tx,
        offer,
        OfferStatus.FAILED,
        actor=WORKER_ACTOR,
        reason_code="apply_attempts_exhausted",
        ref=ref,
        now=now,
        detail={"attempts": row.attempts - row.first_attempt + 1},
    )
    notice = notices.acceptance_failed(offer.offer_id, user_locale(tx, offer.user_id))
    return notify(tx, offer.user_id, notice, now, parent_id=row.outbox_id)


def relay_outbox(tx: Tx, *, now: int, timeout_ms: int, max_attempts: int) -> RelayOutcome:
    """Pending rows untouched for ``timeout_ms``: the next attempt, or dead-letter after the last.

    Attempts are numbered from 0 (the API's enqueue right after the commit); ``attempts`` is the
    number of the latest one. A stale row whose last attempt of its round (``first_attempt +
    max_attempts - 1``; ``first_attempt`` is 0 unless an operator retried the dead row) has had
    its time goes dead-letter; any other gets ``attempts + 1`` and a fresh ``updated_at``, and is returned
    for the caller to enqueue under the job id of that attempt. A row backing off (``not_before``
    in the future) waits. A push row queued by a dead-letter is returned too, at attempt 0.
    """
    rows = tx.execute(
        f"SELECT {OUTBOX_COLUMNS} FROM outbox WHERE state = ? AND updated_at <= ?"  # noqa: S608
        " AND (not_before IS NULL OR not_before <= ?) ORDER BY outbox_id",
        (OutboxState.PENDING.value, now - timeout_ms, now),
    ).fetchall()
    requeued: list[OutboxRecord] = []
    dead: list[int] = []
    for found in rows:
        row = outbox_record(found)
        step = relay_step(
            attempts=row.attempts,
            first_attempt=row.first_attempt,
            max_attempts=max_attempts,
            updated_at=row.updated_at,
            not_before=row.not_before,
            timeout_ms=timeout_ms,
            now=now,
        )
        if step is RelayStep.WAIT:
            continue
        # Conditional on the attempt read: of two relays (two workers) taking the same row, the
        # second finds it moved on and leaves it.
        if step is RelayStep.DEAD_LETTER:
            if not _take(tx, row, "state = ?, last_error = ?", (OutboxState.DEAD.value, _gave_up(row)), now):
                continue
            dead.append(row.outbox_id)
            pushed = _dead_letter(tx, row, now)
            if pushed is not None:
                requeued.append(pushed)
            continue
        if _take(tx, row, "attempts = attempts + 1", (), now):
            requeued.append(msgspec.structs.replace(row, attempts=row.attempts + 1, updated_at=now))
    return RelayOutcome(requeued=requeued, dead=dead)


def _take(tx: Tx, row: OutboxRecord, assignments: str, values: tuple[object, ...], now: int) -> bool:
    """Update the row only if it is still pending at the attempt the relay read; whether it was."""
    cur = tx.execute(
        f"UPDATE outbox SET {assignments}, updated_at = ? WHERE outbox_id = ? AND state = ? AND attempts = ?",  # noqa: S608
        (*values, now, row.outbox_id, OutboxState.PENDING.value, row.attempts),
    )
    return cur.rowcount == 1


def _gave_up(row: OutboxRecord) -> str:
    return f"not done after {row.attempts - row.first_attempt + 1} attempts"


# --- operators: stats, dead letters, retry ----------------------------------------------------


def outbox_stats(tx: Tx, now: int) -> OutboxStats:
    """Row counts by (kind, state), since when the longest-waiting due pending row could run, and
    how many pending rows are not due yet (rows legitimately waiting must not look like a stuck
    worker)."""
    counts = [
        OutboxCount(kind=r[0], state=r[1], count=r[2])
        for r in tx.execute(
            "SELECT kind, state, COUNT(*) FROM outbox GROUP BY kind, state ORDER BY kind, state"
        )
    ]
    due_since, deferred = tx.execute(
        "SELECT MIN(CASE WHEN not_before IS NULL OR not_before <= ?"
        " THEN CASE WHEN COALESCE(not_before, 0) > created_at THEN not_before ELSE created_at END END),"
        " COUNT(CASE WHEN not_before > ? THEN 1 END) FROM outbox WHERE state = ?",
        (now, now, OutboxState.PENDING.value),
    ).fetchone()
    return OutboxStats(counts=counts, oldest_pending_at=due_since, deferred=deferred)


def dead_letters(tx: Tx, *, limit: int, after_id: int) -> list[DeadLetterRecord]:
    """Dead rows with an id above ``after_id``, by id, at most ``limit`` (keyset paging)."""
    rows = tx.execute(
        "SELECT outbox_id, kind, payload, attempts, first_attempt, last_error, parent_id, created_at,"
        " updated_at FROM outbox WHERE state = ? AND outbox_id > ? ORDER BY outbox_id LIMIT ?",
        (OutboxState.DEAD.value, after_id, limit),
    )
    return [
        DeadLetterRecord(
            outbox_id=r[0],
            kind=r[1],
            payload=bytes(r[2]),
            attempts=r[3],
            first_attempt=r[4],
            last_error=r[5],
            parent_id=r[6],
            created_at=r[7],
            updated_at=r[8],
        )
        for r in rows
    ]


def _check_retryable(tx: Tx, row: OutboxRecord) -> None:
    """Refuse a retry that cannot do anything meaningful (:class:`OutboxNotRetryable`)."""
    if row.state != OutboxState.DEAD.value:
        raise OutboxNotRetryable(f"outbox row {row.outbox_id} is {row.state}, not dead")
    if row.kind != APPLY_OFFER:
        return  # a push (or any other job) may simply be tried again; its job re-checks consent
    try:
        offer = _offer_of(tx, row)
    except (OutboxPayloadInvalid, OfferVanished) as exc:
        raise OutboxNotRetryable(f"outbox row {row.outbox_id} names no offer to apply: {exc}") from exc
    if offer.status == OfferStatus.FAILED.value:
        raise OutboxNotRetryable(
            f"offer {offer.offer_id} is failed: a terminal state the user was told about;"
            " make a new offer instead"
        )
    if offer.status != OfferStatus.ACCEPTED.value:
        raise OutboxNotRetryable(f"offer {offer.offer_id} is {offer.status}, not accepted")


def retry_dead(tx: Tx, outbox_id: int, *, now: int) -> OutboxRecord:
    """A dead row back to ``pending`` for a new round of attempts; the row at its next attempt.

    The new round starts at attempt ``attempts + 1`` (``first_attempt``), so its job id
    ``{outbox_id}:{attempt}`` is one arq has never seen and the relay allows the full
    ``OUTBOX_MAX_ATTEMPTS`` again. ``last_error`` keeps the reason it died until a new outcome.
    Raises :class:`OutboxRowNotFound` / :class:`OutboxNotRetryable` and changes nothing then.
    """
    row = get_outbox(tx, outbox_id)
    if row is None:
        raise OutboxRowNotFound(f"no outbox row {outbox_id}")
    _check_retryable(tx, row)
    attempt = row.attempts + 1
    # Conditional on the state read: two operators retrying one row start one round.
    taken = tx.execute(
        "UPDATE outbox SET state = ?, attempts = ?, first_attempt = ?, not_before = NULL, updated_at = ?"
        " WHERE outbox_id = ? AND state = ? AND attempts = ?",
        (OutboxState.PENDING.value, attempt, attempt, now, outbox_id, OutboxState.DEAD.value, row.attempts),
    ).rowcount
    if taken != 1:
        raise OutboxNotRetryable(f"outbox row {outbox_id} was retried meanwhile")
    return msgspec.structs.replace(
        row,
        state=OutboxState.PENDING.value,
        attempts=attempt,
        first_attempt=attempt,
        not_before=None,
        updated_at=now,
    )
