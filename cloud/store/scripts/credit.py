"""Credit features, evaluation requests and their results: transaction scripts over :class:`Tx`.

An evaluation request is an ``evaluations`` row plus an
``evaluate_credit`` outbox row, written together; the job records its result, the offer it made
(through the same ``create_offer`` as the admin API) and the offer's pushes in one transaction
that also marks the outbox row done, so a second run of the job does nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

import msgspec

from cloud.domain.credit.refusals import CreditFeaturesMissing, OpenOfferExists
from cloud.domain.credit.staleness import read_is_stale
from cloud.domain.offers.errors import ProfileMissing
from cloud.outbox.kinds import (
    EVALUATE_CREDIT,
    EvaluateCreditPayload,
    OutboxPayloadInvalid,
    decode_payload,
    encode_payload,
)
from cloud.push.messages import PushPayload
from cloud.store.records import (
    CompletionOutcome,
    CreditFeaturesRecord,
    EvaluationCompleted,
    EvaluationInputs,
    EvaluationRecord,
    EvaluationRequested,
    EvaluationState,
    OfferCreated,
    OfferTerms,
    OutboxRecord,
    OutboxState,
)
from cloud.store.scripts.changelog import require_live_user
from cloud.store.scripts.offers import create_offer, get_profile
from cloud.store.scripts.outbox import pending_children
from cloud.store.scripts.outbox_rows import get_outbox, insert_outbox
from cloud.store.scripts.push import queue_push
from cloud.store.tx import Tx
from sync.messages import OfferStatus

OPEN_STATUSES: Final = (OfferStatus.OFFERED.value, OfferStatus.ACCEPTED.value)
"""An offer in one of these states is still in flight: no new evaluation may make another."""

_json: Final = msgspec.json.Encoder()
_EVALUATION_COLUMNS: Final = (
    "e.evaluation_id, e.user_id, e.status, e.trigger, e.day, e.outbox_id, e.result, e.offer_id,"
    " e.created_at, e.updated_at, o.state"
)
EVALUATION_SELECT: Final = (
    f"SELECT {_EVALUATION_COLUMNS} FROM evaluations e"  # noqa: S608 (constant columns)
    " LEFT JOIN outbox o ON o.outbox_id = e.outbox_id"
)


class EvaluationRowInvalid(ValueError):
    """An ``evaluate_credit`` outbox row whose payload names no evaluation of this store."""


def evaluation_record(row: Sequence[Any]) -> EvaluationRecord:
    return EvaluationRecord(
        evaluation_id=row[0],
        user_id=row[1],
        status=row[2],
        trigger=row[3],
        day=row[4],
        outbox_id=row[5],
        # Written as text; rows from before were written as bytes.
        result=None if row[6] is None else (row[6].encode() if isinstance(row[6], str) else bytes(row[6])),
        offer_id=row[7],
        created_at=row[8],
        updated_at=row[9],
        outbox_state=row[10],
    )


def set_credit_features(tx: Tx, features: CreditFeaturesRecord) -> None:
    """Create or replace the user's credit features. Raises ``UserNotFound``."""
    require_live_user(tx, features.user_id)
    tx.execute(
        "INSERT INTO credit_features (user_id, months_on_book, on_time_payments_12m, missed_payments_12m,"
        " income_band, updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET"
        " months_on_book = excluded.months_on_book,"
        " on_time_payments_12m = excluded.on_time_payments_12m,"
        " missed_payments_12m = excluded.missed_payments_12m,"
        " income_band = excluded.income_band, updated_at = excluded.updated_at",
        (
            features.user_id,
            features.months_on_book,
            features.on_time_payments_12m,
            features.missed_payments_12m,
            features.income_band,
            features.updated_at,
        ),
    )


def get_credit_features(tx: Tx, user_id: str) -> CreditFeaturesRecord | None:
    row = tx.execute(
        "SELECT user_id, months_on_book, on_time_payments_12m, missed_payments_12m, income_band, updated_at"
        " FROM credit_features WHERE user_id = ?",
        (user_id,),
    ).fetchone()
    if row is None:
        return None
    return CreditFeaturesRecord(
        user_id=row[0],
        months_on_book=row[1],
        on_time_payments_12m=row[2],
        missed_payments_12m=row[3],
        income_band=row[4],
        updated_at=row[5],
    )


def open_offer_id(tx: Tx, user_id: str) -> str | None:
    """The user's offer still in flight (``offered`` or ``accepted``), if any."""
    row = tx.execute(
        "SELECT offer_id FROM offers WHERE user_id = ? AND status IN (?, ?) ORDER BY created_at LIMIT 1",
        (user_id, *OPEN_STATUSES),
    ).fetchone()
    return None if row is None else str(row[0])


def _insert_request(
    tx: Tx, user_id: str, evaluation_id: str, *, trigger: str, day: str, now: int
) -> EvaluationRequested:
    outbox = insert_outbox(tx, EVALUATE_CREDIT, encode_payload(EvaluateCreditPayload(evaluation_id)), now=now)
    outbox_id = outbox.outbox_id
    tx.execute(
        "INSERT INTO evaluations (evaluation_id, user_id, status, trigger, day, outbox_id, created_at,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (evaluation_id, user_id, EvaluationState.PENDING.value, trigger, day, outbox_id, now, now),
    )
    evaluation = get_evaluation(tx, evaluation_id)
    assert evaluation is not None  # written just above, same transaction
    return EvaluationRequested(evaluation=evaluation, outbox=outbox)


def request_evaluation(
    tx: Tx, user_id: str, evaluation_id: str, *, trigger: str, day: str, now: int
) -> EvaluationRequested:
    """Write a pending evaluation and its ``evaluate_credit`` outbox row.

    Raises ``UserNotFound`` / ``ProfileMissing`` / ``CreditFeaturesMissing`` / ``OpenOfferExists``
    and writes nothing then.
    """
    require_live_user(tx, user_id)
    if get_profile(tx, user_id) is None:
        raise ProfileMissing(f"user {user_id} has no credit profile")
    if get_credit_features(tx, user_id) is None:
        raise CreditFeaturesMissing(f"user {user_id} has no credit features")
    open_id = open_offer_id(tx, user_id)
    if open_id is not None:
        raise OpenOfferExists(f"user {user_id} has an open offer {open_id}")
    return _insert_request(tx, user_id, evaluation_id, trigger=trigger, day=day, now=now)


def request_daily_evaluations(
    tx: Tx,
    *,
    day: str,
    now: int,
    recent_ms: int,
    limit: int,
    new_id: Callable[[], str],
) -> list[EvaluationRequested]:
    """Up to ``limit`` evaluation requests (trigger ``daily``) for the active users not yet served.

    Active: a credit profile and credit features, at least one device not revoked, no offer in
    flight, and no evaluation requested in the last ``recent_ms`` nor a daily one on ``day``. A
    user written here is no longer eligible, so calling this again takes the next batch.
    """
    rows = tx.execute(
        "SELECT u.user_id FROM users u"
        " JOIN credit_profiles p ON p.user_id = u.user_id"
        " JOIN credit_features f ON f.user_id = u.user_id"
        " WHERE u.erased_at IS NULL"
        " AND EXISTS (SELECT 1 FROM devices d WHERE d.user_id = u.user_id AND d.revoked = 0)"
        " AND NOT EXISTS (SELECT 1 FROM offers o WHERE o.user_id = u.user_id"
        " AND o.status IN ('offered', 'accepted'))"
        " AND NOT EXISTS (SELECT 1 FROM evaluations e WHERE e.user_id = u.user_id"
        " AND (e.created_at > ? OR (e.trigger = 'daily' AND e.day = ?)))"
        " ORDER BY u.user_id LIMIT ?",
        (now - recent_ms, day, limit),
    ).fetchall()
    requested = []
    for (user_id,) in rows:
        # Locked, then read again: a user erased since the candidates were read is skipped.
        tx.lock_user(user_id)
        (erased_at,) = tx.execute("SELECT erased_at FROM users WHERE user_id = ?", (user_id,)).fetchone()
        if erased_at is None:
            requested.append(_insert_request(tx, str(user_id), new_id(), trigger="daily", day=day, now=now))
    return requested


def get_evaluation(tx: Tx, evaluation_id: str) -> EvaluationRecord | None:
    row = tx.execute(f"{EVALUATION_SELECT} WHERE e.evaluation_id = ?", (evaluation_id,)).fetchone()
    return None if row is None else evaluation_record(row)


def list_evaluations(tx: Tx, user_id: str | None = None) -> list[EvaluationRecord]:
    """Evaluations of one user (or all), oldest first."""
    if user_id is None:
        rows = tx.execute(f"{EVALUATION_SELECT} ORDER BY e.created_at, e.evaluation_id")
    else:
        rows = tx.execute(
            f"{EVALUATION_SELECT} WHERE e.user_id = ? ORDER BY e.created_at, e.evaluation_id", (user_id,)
        )
    return [evaluation_record(r) for r in rows]


def _evaluation_of_row(tx: Tx, row: OutboxRecord) -> EvaluationRecord:
    try:
        payload = decode_payload(row.outbox_id, row.kind, row.payload, EvaluateCreditPayload)
    except OutboxPayloadInvalid as exc:
        raise EvaluationRowInvalid(str(exc)) from exc
    evaluation = get_evaluation(tx, payload.evaluation_id)
    if evaluation is None:
        raise EvaluationRowInvalid(f"outbox row {row.outbox_id}: no evaluation {payload.evaluation_id}")
    return evaluation


def evaluation_inputs(tx: Tx, outbox_id: int) -> EvaluationInputs | None:
    """The evaluation, features and profile for a pending ``evaluate_credit`` row; else ``None``."""
    row = get_outbox(tx, outbox_id)
    if row is None or row.state != OutboxState.PENDING.value:
        return None
    evaluation = _evaluation_of_row(tx, row)
    return EvaluationInputs(
        evaluation=evaluation,
        features=get_credit_features(tx, evaluation.user_id),
        profile=get_profile(tx, evaluation.user_id),
        open_offer_id=open_offer_id(tx, evaluation.user_id),
    )


def complete_evaluation(
    tx: Tx,
    outbox_id: int,
    *,
    status: EvaluationState,
    result: bytes,
    terms: OfferTerms | None,
    read: EvaluationInputs,
    announcement: PushPayload | None,
    announce_not_before: int | None,
    actor: str,
    ref: str,
    now: int,
) -> EvaluationCompleted:
    """The ``evaluate_credit`` job's one write transaction (see the Protocol's docstring)."""
    row = get_outbox(tx, outbox_id)
    if row is None or row.state != OutboxState.PENDING.value:
        return EvaluationCompleted(outcome=CompletionOutcome.ALREADY_DONE)
    evaluation = _evaluation_of_row(tx, row)
    user_id = evaluation.user_id
    # Lock the user, then check the row again: of two runs racing on two workers, the second finds
    # it done. What the result was computed from must still hold, or it would be recorded on stale
    # inputs.
    tx.lock_user(user_id)
    again = get_outbox(tx, outbox_id)
    if again is None or again.state != OutboxState.PENDING.value:
        return EvaluationCompleted(outcome=CompletionOutcome.ALREADY_DONE)
    now_inputs = EvaluationInputs(
        evaluation=evaluation,
        features=get_credit_features(tx, user_id),
        profile=get_profile(tx, user_id),
        open_offer_id=open_offer_id(tx, user_id),
    )
    if read_is_stale(read, now_inputs):
        return EvaluationCompleted(outcome=CompletionOutcome.STALE)
    offer = None
    if terms is not None:
        offer = create_offer(tx, terms, actor=actor, ref=ref, now=now)
        if announcement is not None:
            wait = announce_not_before is not None and announce_not_before > now
            pushed = queue_push(
                tx,
                announcement,
                parent_id=outbox_id,
                now=now,
                not_before=announce_not_before if wait else None,
            )
            if pushed is not None and wait:
                # The announcement waits; a data-only ping now lets the app show the offer quietly.
                queue_push(tx, PushPayload(user_id=user_id), parent_id=outbox_id, now=now)
    tx.execute(
        "UPDATE evaluations SET status = ?, result = ?, offer_id = ?, updated_at = ? WHERE evaluation_id = ?",
        (
            status.value,
            result.decode(),
            None if offer is None else offer.offer_id,
            now,
            evaluation.evaluation_id,
        ),
    )
    tx.execute(
        "UPDATE outbox SET state = ?, last_error = NULL, updated_at = ? WHERE outbox_id = ?",
        (OutboxState.DONE.value, now, outbox_id),
    )
    return EvaluationCompleted(
        outcome=CompletionOutcome.RECORDED, offer=offer, enqueue=due_children(tx, outbox_id, now)
    )


def create_offer_and_ping(
    tx: Tx, terms: OfferTerms, *, actor: str, ref: str | None, now: int
) -> OfferCreated:
    """``create_offer``, plus a data-only sync ping to the user's devices (with ``push`` consent)."""
    offer = create_offer(tx, terms, actor=actor, ref=ref, now=now)
    ping = queue_push(tx, PushPayload(user_id=terms.user_id), parent_id=None, now=now)
    return OfferCreated(offer=offer, outbox=[] if ping is None else [ping])


def due_children(tx: Tx, parent_id: int, now: int) -> list[OutboxRecord]:
    """Pending rows the job of ``parent_id`` queued that may be sent now (``not_before`` passed)."""
    due = {
        int(r[0])
        for r in tx.execute(
            "SELECT outbox_id FROM outbox WHERE parent_id = ? AND (not_before IS NULL OR not_before <= ?)",
            (parent_id, now),
        )
    }
    return [r for r in pending_children(tx, parent_id) if r.outbox_id in due]
