"""The daily counts of stored aggregates (``aggregate_counts``) kept with the aggregates themselves.

Every script that stores or erases aggregates goes through here, in its own transaction, so the
counts the population analytics read (:func:`cloud.store.scripts.views.aggregate_groups`) always
equal a count of the rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from cloud.store.tx import Tx

_COUNT: Final = (
    "INSERT INTO aggregate_counts (day, levels, mechanism, count) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (day, levels, mechanism) DO UPDATE SET count = aggregate_counts.count + excluded.count"
)
_COUNT_MODEL: Final = (
    "INSERT INTO aggregate_model_counts (day, model_version, levels, mechanism, count) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (day, model_version, levels, mechanism)"
    " DO UPDATE SET count = aggregate_model_counts.count + excluded.count"
)

Key = tuple[str, str, str, str]
"""``(day, model_version, levels, mechanism)``: what the counts are per (levels and mechanism as
their stored JSON text)."""


def _write(tx: Tx, deltas: Sequence[tuple[Key, int]]) -> None:
    # Key order: on PostgreSQL two transactions that share count rows lock them in one order and
    # queue instead of deadlocking. aggregate_counts (without the model) is kept for processes of
    # the previous release (migration 0022).
    model_rows = sorted(deltas)
    plain: dict[tuple[str, str, str], int] = {}
    for (day, _model, levels, mechanism), delta in model_rows:
        plain[day, levels, mechanism] = plain.get((day, levels, mechanism), 0) + delta
    tx.executemany(_COUNT_MODEL, [(*key, delta) for key, delta in model_rows])
    tx.executemany(_COUNT, [(*key, delta) for key, delta in sorted(plain.items())])


def count_aggregate(tx: Tx, day: str, model_version: str, levels: str, mechanism: str, delta: int) -> None:
    """Add ``delta`` to the count of ``day``'s aggregates of ``model_version`` with these ``levels``
    and ``mechanism``."""
    _write(tx, [((day, model_version, levels, mechanism), delta)])


class AggregateCounts:
    """Count changes gathered over one transaction's aggregates and written in one call at its
    end (:meth:`flush`): a sync request stores up to hundreds of aggregates."""

    __slots__ = ("_deltas",)

    def __init__(self) -> None:
        self._deltas: dict[Key, int] = {}

    def add(self, day: str, model_version: str, levels: str, mechanism: str) -> None:
        key = (day, model_version, levels, mechanism)
        self._deltas[key] = self._deltas.get(key, 0) + 1

    def flush(self, tx: Tx) -> None:
        if self._deltas:
            _write(tx, list(self._deltas.items()))
            self._deltas.clear()


def uncount(tx: Tx, groups: Sequence[tuple[str, str, str, str, int]]) -> None:
    """Take ``(day, model_version, levels, mechanism, count)`` groups of deleted aggregates off the
    counts; a count that reaches 0 goes."""
    _write(tx, [((day, model, levels, mechanism), -int(n)) for day, model, levels, mechanism, n in groups])
    for day, model, levels, mechanism, _ in sorted(groups):
        tx.execute(
            "DELETE FROM aggregate_model_counts WHERE day = ? AND model_version = ? AND levels = ?"
            " AND mechanism = ? AND count <= 0",
            (day, model, levels, mechanism),
        )
        tx.execute(
            "DELETE FROM aggregate_counts WHERE day = ? AND levels = ? AND mechanism = ? AND count <= 0",
            (day, levels, mechanism),
        )


def erase_aggregates(tx: Tx, user_id: str) -> None:
    """Delete every aggregate of ``user_id`` and take them off the counts."""
    groups = tx.execute(
        "SELECT day, model_version, levels, mechanism, COUNT(*) FROM aggregates WHERE user_id = ?"
        " GROUP BY day, model_version, levels, mechanism ORDER BY day, model_version, levels, mechanism",
        (user_id,),
    ).fetchall()
    uncount(tx, groups)
    tx.execute("DELETE FROM aggregates WHERE user_id = ?", (user_id,))
