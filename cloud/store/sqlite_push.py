"""The ``send_push`` outbox rows and their attempts, for SQLite.

Plain functions over the ``sqlite3`` connection, run inside the store's transactions. A push row
is written in the transaction that creates its notice (``apply_offer``, the relay's dead-letter),
only when the user has the ``push`` consent then; the job checks the consent again when it sends.
The row is idempotent per (row, token): a token with a ``sent`` attempt for the row is not sent
that row again, so a retry after a partial failure only reaches the tokens that still need it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, Final

import msgspec

from cloud.push.messages import SEND_PUSH, PushMessage, PushOutcome, PushPayload, PushResult
from cloud.store.records import OutboxRecord, OutboxState, PushAttemptRecord, PushPlan, PushTarget
from cloud.store.sqlite_mutations import consent_of
from sync.messages import ConsentScope, OfferStatus

_json: Final = msgspec.json.Encoder()


class PushRowInvalid(ValueError):
    """A ``send_push`` outbox row whose payload is not a push payload."""


def has_push_consent(conn: sqlite3.Connection, user_id: str) -> bool:
    return consent_of(conn, user_id, ConsentScope.PUSH) is True


def queue_push(
    conn: sqlite3.Connection, payload: PushPayload, *, parent_id: int | None, now: int
) -> int | None:
    """Add a pending ``send_push`` row if the user has the ``push`` consent; its id, else ``None``."""
    if not has_push_consent(conn, payload.user_id):
        return None
    cur = conn.execute(
        "INSERT INTO outbox (kind, payload, state, attempts, created_at, updated_at, parent_id)"
        " VALUES (?, ?, 'pending', 0, ?, ?, ?)",
        (SEND_PUSH, _json.encode(payload), now, now, parent_id),
    )
    return cur.lastrowid


def push_plan(conn: sqlite3.Connection, row: OutboxRecord) -> PushPlan:
    """The consent and the tokens still to send for a pending ``send_push`` row."""
    try:
        payload = msgspec.json.decode(row.payload, type=PushPayload)
    except msgspec.DecodeError as exc:
        raise PushRowInvalid(f"outbox row {row.outbox_id}: {exc}") from exc
    rows = conn.execute(
        "SELECT p.device_id, p.token, p.platform FROM push_tokens p"
        " JOIN devices d ON d.device_id = p.device_id"
        " WHERE d.user_id = ? AND d.revoked = 0 AND p.active = 1"
        " AND NOT EXISTS (SELECT 1 FROM push_attempts a"
        " WHERE a.outbox_id = ? AND a.token = p.token AND a.outcome = ?) ORDER BY p.device_id",
        (payload.user_id, row.outbox_id, PushOutcome.SENT.value),
    )
    offer_open = True
    if payload.offer_id is not None:
        status = conn.execute("SELECT status FROM offers WHERE offer_id = ?", (payload.offer_id,)).fetchone()
        offer_open = status is not None and status[0] == OfferStatus.OFFERED.value
    return PushPlan(
        payload=row.payload,
        user_id=payload.user_id,
        consented=has_push_consent(conn, payload.user_id),
        offer_open=offer_open,
        targets=[PushTarget(device_id=r[0], token=r[1], platform=r[2]) for r in rows],
    )


def record_push(
    conn: sqlite3.Connection,
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
        conn.execute(
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
                _json.encode(message),
                now,
            ),
        )
        if result.outcome is PushOutcome.DEACTIVATE:
            # Only this token: the device may have registered a new one since the send began.
            conn.execute(
                "UPDATE push_tokens SET active = 0, updated_at = ? WHERE device_id = ? AND token = ?",
                (now, target.device_id, target.token),
            )
        elif result.outcome is PushOutcome.RETRY:
            retry.append(result.error_code or "retry")
    if retry:
        conn.execute(
            "UPDATE outbox SET last_error = ?, not_before = ?, updated_at = ? WHERE outbox_id = ?",
            (f"retry later: {', '.join(sorted(set(retry)))}", retry_at, now, row.outbox_id),
        )
        return OutboxState.PENDING
    conn.execute(
        "UPDATE outbox SET state = ?, last_error = NULL, not_before = NULL, updated_at = ?"
        " WHERE outbox_id = ?",
        (OutboxState.DONE.value, now, row.outbox_id),
    )
    return OutboxState.DONE


def skip_push(conn: sqlite3.Connection, row: OutboxRecord, reason: PushOutcome, now: int) -> None:
    """Finish a row without sending (no consent now, offer closed): ``done``, the reason kept as its error."""
    conn.execute(
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


def push_attempts(conn: sqlite3.Connection, user_id: str) -> list[PushAttemptRecord]:
    rows = conn.execute(
        "SELECT attempt_id, outbox_id, attempt, user_id, device_id, token, sender, outcome, error_code,"
        " message_id, message, at FROM push_attempts WHERE user_id = ? ORDER BY attempt_id",
        (user_id,),
    )
    return [_attempt(r) for r in rows]
