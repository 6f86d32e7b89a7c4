"""The ``retention`` job's transactions: delete what is past its time, table by table
(``docs/privacy.md``, retention). Each call deletes at most ``limit`` rows per table, so a backlog
never holds the write lock for long; the job repeats a call until it comes back short.
"""

from __future__ import annotations

from collections import Counter
from typing import Final

from cloud.store.records import CompactionOutcome, OutboxState, RetentionCutoffs, RetentionOutcome
from cloud.store.scripts.aggregates import uncount
from cloud.store.tx import Tx
from sync.codec import decode_change
from sync.compaction import superseded

_FINISHED: Final = (OutboxState.DONE.value, OutboxState.CANCELLED.value)


def _aggregates(tx: Tx, before_day: str, limit: int) -> int:
    # No index on day (it cost every stored aggregate a page, migration 0013): aggregates arrive
    # in day order, so a scan in key order meets the old ones first and stops at the limit. The
    # one full pass is the last batch's, once a day.
    rows = tx.execute(
        "SELECT aggregate_id, day, levels, mechanism FROM aggregates WHERE day < ?"
        " ORDER BY aggregate_id LIMIT ?",
        (before_day, limit),
    ).fetchall()
    groups = Counter((r[1], r[2], r[3]) for r in rows)
    uncount(tx, [(*key, n) for key, n in groups.items()])
    tx.executemany("DELETE FROM aggregates WHERE aggregate_id = ?", [(r[0],) for r in rows])
    return len(rows)


def _push_attempts(tx: Tx, before: int, limit: int) -> int:
    rows = tx.execute(
        "SELECT attempt_id FROM push_attempts WHERE at < ? ORDER BY at LIMIT ?", (before, limit)
    ).fetchall()
    tx.executemany("DELETE FROM push_attempts WHERE attempt_id = ?", [(r[0],) for r in rows])
    return len(rows)


def _outbox(tx: Tx, before: int, limit: int) -> int:
    # A row another row still names stays: its follow-up rows (parent_id), its push attempts, a
    # pending evaluation. A finished evaluation keeps its result and forgets its job's row.
    rows = tx.execute(
        "SELECT o.outbox_id FROM outbox o WHERE o.state IN (?, ?) AND o.updated_at < ?"
        " AND NOT EXISTS (SELECT 1 FROM outbox c WHERE c.parent_id = o.outbox_id)"
        " AND NOT EXISTS (SELECT 1 FROM push_attempts a WHERE a.outbox_id = o.outbox_id)"
        " AND NOT EXISTS (SELECT 1 FROM evaluations e WHERE e.outbox_id = o.outbox_id"
        " AND e.status = 'pending')"
        " ORDER BY o.updated_at, o.outbox_id LIMIT ?",
        (*_FINISHED, before, limit),
    ).fetchall()
    ids = [(r[0],) for r in rows]
    tx.executemany("UPDATE evaluations SET outbox_id = NULL WHERE outbox_id = ?", ids)
    tx.executemany("DELETE FROM outbox WHERE outbox_id = ?", ids)
    return len(ids)


def _digests(tx: Tx, revoked_before: int, limit: int) -> int:
    devices = tx.execute(
        "SELECT d.device_id FROM devices d WHERE d.revoked = 1 AND d.revoked_at < ?"
        " AND EXISTS (SELECT 1 FROM mutation_digests m WHERE m.device_id = d.device_id)"
        " ORDER BY d.device_id LIMIT ?",
        (revoked_before, limit),
    ).fetchall()
    deleted = 0
    for (device_id,) in devices:
        deleted += tx.execute("DELETE FROM mutation_digests WHERE device_id = ?", (device_id,)).rowcount
    return deleted


def _sessions(tx: Tx, before: int, limit: int) -> int:
    rows = tx.execute(
        "SELECT session_hash FROM operator_sessions WHERE expires_at < ? OR revoked_at < ?"
        " ORDER BY session_hash LIMIT ?",
        (before, before, limit),
    ).fetchall()
    tx.executemany("DELETE FROM operator_sessions WHERE session_hash = ?", [(r[0],) for r in rows])
    return len(rows)


def purge_expired(tx: Tx, cutoffs: RetentionCutoffs, *, limit: int) -> RetentionOutcome:
    """Delete up to ``limit`` rows past their time from each table, in one transaction."""
    return RetentionOutcome(
        aggregates=_aggregates(tx, cutoffs.aggregates_before_day, limit),
        # Attempts before the outbox rows they name, so those rows can go in the same pass.
        push_attempts=_push_attempts(tx, cutoffs.push_attempts_before, limit),
        outbox=_outbox(tx, cutoffs.outbox_before, limit),
        mutation_digests=_digests(tx, cutoffs.digests_revoked_before, limit),
        operator_sessions=_sessions(tx, cutoffs.sessions_before, limit),
    )


def compact_change_logs(tx: Tx, *, after_user_id: str, users: int, before: int) -> CompactionOutcome:
    """Compact the change logs of up to ``users`` users after ``after_user_id`` (in id order):
    delete each change created before ``before`` that a later change of the same entity replaces
    (:func:`sync.compaction.superseded`). Versions are never reused: the user's counter stays."""
    user_ids = [
        r[0]
        for r in tx.execute(
            "SELECT user_id FROM users WHERE user_id > ? ORDER BY user_id LIMIT ?", (after_user_id, users)
        )
    ]
    deleted = 0
    for user_id in user_ids:
        rows = tx.execute(
            "SELECT version, body, created_at FROM change_log WHERE user_id = ? ORDER BY version", (user_id,)
        ).fetchall()
        old = {int(r[0]) for r in rows if r[2] < before}
        changes = [(int(r[0]), change) for r in rows if (change := decode_change(bytes(r[1]))) is not None]
        gone = [v for v in superseded(changes) if v in old]
        tx.executemany(
            "DELETE FROM change_log WHERE user_id = ? AND version = ?", [(user_id, v) for v in gone]
        )
        deleted += len(gone)
    return CompactionOutcome(
        users=len(user_ids), deleted=deleted, last_user_id=user_ids[-1] if user_ids else None
    )
