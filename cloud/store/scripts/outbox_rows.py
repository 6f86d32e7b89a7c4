"""Outbox rows: the one insert (returning the row it wrote) and the row mapping, for every script."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from cloud.store.records import OutboxRecord, OutboxState
from cloud.store.tx import Tx

OUTBOX_COLUMNS: Final = (
    "outbox_id, kind, payload, state, attempts, created_at, updated_at, first_attempt, last_error,"
    " parent_id, not_before"
)

_INSERT: Final = (
    "INSERT INTO outbox (kind, payload, state, attempts, created_at, updated_at, parent_id, not_before)"  # noqa: S608
    f" VALUES (?, ?, ?, 0, ?, ?, ?, ?) RETURNING {OUTBOX_COLUMNS}"
)


def outbox_record(row: Sequence[Any]) -> OutboxRecord:
    return OutboxRecord(
        outbox_id=row[0],
        kind=row[1],
        payload=bytes(row[2]),
        state=row[3],
        attempts=row[4],
        created_at=row[5],
        updated_at=row[6],
        first_attempt=row[7],
        last_error=row[8],
        parent_id=row[9],
        not_before=row[10],
    )


def insert_outbox(
    tx: Tx,
    kind: str,
    payload: bytes,
    *,
    now: int,
    parent_id: int | None = None,
    not_before: int | None = None,
) -> OutboxRecord:
    """Insert a pending row (attempt 0) and return it; it is also added to ``tx.outbox_written``.

    The returned row, not the table's highest id, is how a transaction knows what it queued: ids
    of concurrent writers interleave on an engine with more than one writer.
    """
    row = tx.execute(
        _INSERT, (kind, payload, OutboxState.PENDING.value, now, now, parent_id, not_before)
    ).fetchone()
    record = outbox_record(row)
    tx.outbox_written.append(record)
    return record


def get_outbox(tx: Tx, outbox_id: int) -> OutboxRecord | None:
    row = tx.execute(
        f"SELECT {OUTBOX_COLUMNS} FROM outbox WHERE outbox_id = ?",  # noqa: S608 (constant columns)
        (outbox_id,),
    ).fetchone()
    return None if row is None else outbox_record(row)
