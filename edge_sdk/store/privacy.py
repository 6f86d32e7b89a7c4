"""Privacy tables of the local store: window scores, the ε ledger, and withdrawing queued aggregates.

Functions here run inside a transaction opened by :class:`~edge_sdk.store.local.LocalStore`
(``store.atomic()``), so a consent change and what it erases, or a ledger entry and the
aggregate it pays for, commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from sqlite_utils import Database

from edge_sdk.store import mirror
from sync.codec import decode_mutation, encode_mutation
from sync.messages import SetConsent, SubmitAggregate, Withdrawn

RELEASED: Final = "released"
BELOW_MINIMUM: Final = "below_minimum"


@dataclass(frozen=True, slots=True)
class ScoreRow:
    end_ms: int
    local_day: str
    tz_offset_min: int
    stress_prob: float
    valence: float
    arousal: float
    model_version: str


@dataclass(frozen=True, slots=True)
class LedgerRow:
    day: str
    status: str
    epsilon: float
    stress_epsilon: float
    valence_epsilon: float
    arousal_epsilon: float
    window_bucket: int | None
    seq: int | None
    recorded_at: int


_SCORE_COLUMNS: Final = "end_ms, local_day, tz_offset_min, stress_prob, valence, arousal, model_version"
_LEDGER_COLUMNS: Final = (
    "day, status, epsilon, stress_epsilon, valence_epsilon, arousal_epsilon, window_bucket, seq, recorded_at"
)


# --- consent -----------------------------------------------------------------------


def effective_consent(db: Database) -> dict[str, bool]:
    """The mirrored consent with pending ``SetConsent`` mutations laid over it, in seq order.

    The same rule as ``EdgeClient.consent()``, read inside the caller's transaction so a check
    and the write it guards cannot be separated by a concurrent revoke.
    """
    scopes = mirror.read_consent(db)
    rows = db.execute("SELECT mutation FROM outbox WHERE type = ? ORDER BY seq", [SetConsent.__name__])
    for (data,) in rows.fetchall():
        mutation = decode_mutation(data)
        if isinstance(mutation, SetConsent):
            scopes[str(mutation.scope)] = mutation.granted
    return scopes


def withdraw_aggregates(db: Database) -> list[int]:
    """Replace every queued ``SubmitAggregate`` with a ``Withdrawn`` tombstone under the same seq.

    The protocol forbids deleting an unacknowledged row (the cloud would wait for the seq
    forever), so the row keeps its seq and ``created_at`` and loses its content. Returns the
    seqs rewritten.
    """
    rows = db.execute(
        "SELECT seq, mutation FROM outbox WHERE type = ? ORDER BY seq", [SubmitAggregate.__name__]
    ).fetchall()
    seqs: list[int] = []
    for seq, data in rows:
        original = decode_mutation(data)
        tombstone = Withdrawn(
            seq=original.seq, created_at=original.created_at, original_type=SubmitAggregate.__name__
        )
        db.execute(
            "UPDATE outbox SET type = ?, mutation = ? WHERE seq = ?",
            [Withdrawn.__name__, encode_mutation(tombstone), seq],
        )
        seqs.append(int(seq))
    return seqs


# --- window scores -----------------------------------------------------------------


def stored_end_ms(db: Database, end_ms: Iterable[int]) -> set[int]:
    """Which of ``end_ms`` already have a stored window."""
    wanted = list(end_ms)
    found: set[int] = set()
    # Chunks keep under SQLite's bound-parameter limit for any batch size.
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        marks = ", ".join("?" for _ in chunk)
        sql = f"SELECT end_ms FROM window_scores WHERE end_ms IN ({marks})"  # noqa: S608 (only "?" marks)
        found.update(int(r[0]) for r in db.execute(sql, chunk).fetchall())
    return found


def insert_scores(db: Database, rows: Sequence[ScoreRow]) -> None:
    db.conn.executemany(
        f"INSERT INTO window_scores ({_SCORE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
        [
            (r.end_ms, r.local_day, r.tz_offset_min, r.stress_prob, r.valence, r.arousal, r.model_version)
            for r in rows
        ],
    )


def read_scores(db: Database, *, before_day: str | None = None) -> list[ScoreRow]:
    """Stored windows in time order, optionally only those of local days before ``before_day``."""
    if before_day is None:
        rows = db.execute(f"SELECT {_SCORE_COLUMNS} FROM window_scores ORDER BY end_ms")  # noqa: S608
    else:
        rows = db.execute(
            f"SELECT {_SCORE_COLUMNS} FROM window_scores WHERE local_day < ? ORDER BY end_ms",  # noqa: S608
            [before_day],
        )
    return [ScoreRow(int(a), b, int(c), float(d), float(e), float(f), g) for a, b, c, d, e, f, g in rows]


def delete_scores(db: Database) -> int:
    """Erase every stored window score; returns how many."""
    return int(db.execute("DELETE FROM window_scores").rowcount)


def purge_scores(db: Database, before_ms: int) -> int:
    """Erase window scores that ended before ``before_ms``; returns how many."""
    return int(db.execute("DELETE FROM window_scores WHERE end_ms < ?", [before_ms]).rowcount)


# --- the ε ledger ------------------------------------------------------------------


def ledger_rows(db: Database) -> list[LedgerRow]:
    rows = db.execute(f"SELECT {_LEDGER_COLUMNS} FROM privacy_ledger ORDER BY day").fetchall()  # noqa: S608
    return [LedgerRow(*r) for r in rows]


def ledger_days(db: Database) -> set[str]:
    return {str(r[0]) for r in db.execute("SELECT day FROM privacy_ledger").fetchall()}


def lifetime_epsilon(db: Database) -> float:
    value = db.execute("SELECT COALESCE(SUM(epsilon), 0.0) FROM privacy_ledger").fetchone()[0]
    return float(value)


def insert_ledger(db: Database, row: LedgerRow) -> None:
    db.execute(
        f"INSERT INTO privacy_ledger ({_LEDGER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
        [
            row.day,
            row.status,
            row.epsilon,
            row.stress_epsilon,
            row.valence_epsilon,
            row.arousal_epsilon,
            row.window_bucket,
            row.seq,
            row.recorded_at,
        ],
    )
