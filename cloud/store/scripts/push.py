"""The ``send_push`` outbox rows and their attempts (scripts over :class:`~cloud.store.tx.Tx`). A push row
is written in the transaction that creates its notice (``apply_offer``, the relay's dead-letter),
only when the user has the ``push`` consent then; the job checks the consent again when it sends.
The row is idempotent per (row, token): a token with a ``sent`` attempt for the row is not sent
that row again, so a retry after a partial failure only reaches the tokens that still need it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import msgspec

from cloud.outbox.kinds import SEND_PUSH, decode_payload
from cloud.push.messages import PushMessage, PushOutcome, PushPayload, PushResult
from cloud.store.records import (
    OutboxRecord,
    OutboxState,
    PushAttemptRecord,
    PushPlan,
    PushTarget,
    PushTokenRecord,
)
from cloud.store.scripts.mutations import consent_of
from cloud.store.scripts.outbox_rows import get_outbox, insert_outbox
from cloud.store.tx import Tx
from sync.messages import ConsentScope, OfferStatus

_json: Final = msgspec.json.Encoder()


def has_push_consent(tx: Tx, user_id: str) -> bool:
    return consent_of(tx, user_id, ConsentScope.PUSH) is True


def queue_push(
    tx: Tx, payload: PushPayload, *, parent_id: int | None, now: int, not_before: int | None = None
) -> OutboxRecord | None:
    """Add a pending ``send_push`` row if the user has the ``push`` consent; the row, else ``None``."""
    if not has_push_consent(tx, payload.user_id):
        return None
    body = _json.encode(payload)
    return insert_outbox(tx, SEND_PUSH, body, now=now, parent_id=parent_id, not_before=not_before)


def _plan(tx: Tx, row: OutboxRecord) -> PushPlan:
    """The consent and the tokens still to send for a pending ``send_push`` row."""
    payload = decode_payload(row.outbox_id, row.kind, row.payload, PushPayload)
    rows = tx.execute(
        "SELECT p.device_id, p.token, p.platform FROM push_tokens p"
        " JOIN devices d ON d.device_id = p.device_id"
        " WHERE d.user_id = ? AND d.revoked = 0 AND p.active = 1"
        " AND NOT EXISTS (SELECT 1 FROM push_attempts a"
        " WHERE a.outbox_id = ? AND a.token = p.token AND a.outcome = ?) ORDER BY p.device_id",
        (payload.user_id, row.outbox_id, PushOutcome.SENT.value),
    )
    offer_open = True
    if payload.offer_id is not None:
        status = tx.execute("SELECT status FROM offers WHERE offer_id = ?", (payload.offer_id,)).fetchone()
        offer_open = status is not None and status[0] == OfferStatus.OFFERED.value
    return PushPlan(
        payload=row.payload,
        user_id=payload.user_id,
        consented=payload.erasure or has_push_consent(tx, payload.user_id),
        offer_open=offer_open,
        targets=[PushTarget(device_id=r[0], token=r[1], platform=r[2]) for r in rows],
    )


def _record(
    tx: Tx,
    row: OutboxRecord,
    *,
    user_id: str,
    sender: str,
    sent: Sequence[tuple[PushTarget, PushMessage, PushResult]],
    attempt: int,
    retry_at: int,
    now: int,
) -> OutboxState:
    """Record every attempt, deactivate dead tokens, then finish the row or leave it for a retry.

    Any ``retry`` answer keeps the row pending with ``not_before = retry_at`` (the relay takes its
    next attempt then, counted by the row); otherwise the row is ``done``.
    """
    retry: list[str] = []
    for target, message, result in sent:
        tx.execute(
            "INSERT INTO push_attempts (outbox_id, attempt, user_id, device_id, token, sender, outcome,"
            " error_code, message_id, message, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row.outbox_id,
                attempt,
                user_id,
                target.device_id,
                target.token,
                sender,
                result.outcome.value,
                result.error_code,
                result.message_id,
                _json.encode(message).decode(),
                now,
            ),
        )
        if result.outcome is PushOutcome.DEACTIVATE:
            # Only this token: the device may have registered a new one since the send began.
            tx.execute(
                "UPDATE push_tokens SET active = 0, updated_at = ? WHERE device_id = ? AND token = ?",
                (now, target.device_id, target.token),
            )
        elif result.outcome is PushOutcome.RETRY:
            retry.append(result.error_code or "retry")
    if retry:
        tx.execute(
            "UPDATE outbox SET last_error = ?, not_before = ?, updated_at = ? WHERE outbox_id = ?",
            (f"retry later: {', '.join(sorted(set(retry)))}", retry_at, now, row.outbox_id),
        )
        return OutboxState.PENDING
    tx.execute(
        "UPDATE outbox SET state = ?, last_error = NULL, not_before = NULL, updated_at = ?"
        " WHERE outbox_id = ?",
        (OutboxState.DONE.value, now, row.outbox_id),
    )
    return OutboxState.DONE


def _skip(tx: Tx, row: OutboxRecord, reason: PushOutcome, now: int) -> None:
    """Finish a row without sending (no consent now, offer closed): ``done``, the reason kept as its error."""
    tx.execute(
        "UPDATE outbox SET state = ?, last_error = ?, updated_at = ? WHERE outbox_id = ?",
        (OutboxState.DONE.value, reason.value, now, row.outbox_id),
    )


def _attempt(r: Sequence[Any]) -> PushAttemptRecord:
    return PushAttemptRecord(
        attempt_id=r[0],
        outbox_id=r[1],
        attempt=r[2],
        user_id=r[3],
        device_id=r[4],
        token=r[5],
        sender=r[6],
        outcome=r[7],
        error_code=r[8],
        message_id=r[9],
        message=msgspec.json.decode(r[10], type=dict[str, object]),
        at=r[11],
    )


def push_attempts(tx: Tx, user_id: str) -> list[PushAttemptRecord]:
    rows = tx.execute(
        "SELECT attempt_id, outbox_id, attempt, user_id, device_id, token, sender, outcome, error_code,"
        " message_id, message, at FROM push_attempts WHERE user_id = ? ORDER BY attempt_id",
        (user_id,),
    )
    return [_attempt(r) for r in rows]


def push_tokens(tx: Tx, user_id: str) -> list[PushTokenRecord]:
    """The push token of each of the user's devices (revoked devices included), by device id."""
    rows = tx.execute(
        "SELECT p.device_id, p.token, p.platform, p.active, p.updated_at FROM push_tokens p"
        " JOIN devices d ON d.device_id = p.device_id WHERE d.user_id = ? ORDER BY p.device_id",
        (user_id,),
    )
    return [
        PushTokenRecord(device_id=r[0], token=r[1], platform=r[2], active=bool(r[3]), updated_at=r[4])
        for r in rows
    ]


def push_plan(tx: Tx, outbox_id: int, *, claim_at: int | None = None) -> PushPlan | None:
    """What a pending ``send_push`` row still has to send; ``None`` if the row is not pending.

    With ``claim_at`` the row's ``updated_at`` moves to it, so the relay leaves a row being sent
    alone for a relay timeout (the caller's transaction must then be a write).
    """
    row = get_outbox(tx, outbox_id)
    if row is None or row.state != OutboxState.PENDING.value or row.kind != SEND_PUSH:
        return None
    if claim_at is not None:
        tx.execute("UPDATE outbox SET updated_at = ? WHERE outbox_id = ?", (claim_at, outbox_id))
    plan = _plan(tx, row)
    (not_before,) = tx.execute("SELECT not_before FROM outbox WHERE outbox_id = ?", (outbox_id,)).fetchone()
    return msgspec.structs.replace(plan, not_before=not_before)


def record_push(
    tx: Tx,
    outbox_id: int,
    *,
    user_id: str,
    sender: str,
    sent: Sequence[tuple[PushTarget, PushMessage, PushResult]],
    attempt: int,
    retry_at: int,
    now: int,
) -> OutboxState:
    """Record a send of a pending ``send_push`` row (:func:`_record`); the row's state after it."""
    tx.lock_user(user_id)
    row = get_outbox(tx, outbox_id)
    if row is None or row.state != OutboxState.PENDING.value:
        return OutboxState.DONE if row is None else OutboxState(row.state)
    return _record(
        tx,
        row,
        user_id=user_id,
        sender=sender,
        sent=sent,
        attempt=attempt,
        retry_at=retry_at,
        now=now,
    )


def skip_push(tx: Tx, outbox_id: int, reason: PushOutcome, now: int) -> None:
    """Finish a pending ``send_push`` row without sending (:func:`_skip`)."""
    row = get_outbox(tx, outbox_id)
    if row is not None and row.state == OutboxState.PENDING.value:
        _skip(tx, row, reason, now)
