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


def count_aggregate(tx: Tx, day: str, levels: str, mechanism: str, delta: int) -> None:
    """Add ``delta`` to the count of ``day``'s aggregates with these ``levels`` and ``mechanism``
    (their stored JSON text)."""
    tx.execute(_COUNT, (day, levels, mechanism, delta))


class AggregateCounts:
    """Count changes gathered over one transaction's aggregates and written in one call at its
    end (:meth:`flush`): a sync request stores up to hundreds of aggregates."""

    __slots__ = ("_deltas",)

    def __init__(self) -> None:
        self._deltas: dict[tuple[str, str, str], int] = {}

    def add(self, day: str, levels: str, mechanism: str) -> None:
        key = (day, levels, mechanism)
        self._deltas[key] = self._deltas.get(key, 0) + 1

    def flush(self, tx: Tx) -> None:
        if self._deltas:
            # In key order: on PostgreSQL two transactions that share count rows then lock them in
            # the same order and queue instead of deadlocking.
            tx.executemany(_COUNT, [(*key, delta) for key, delta in sorted(self._deltas.items())])
            self._deltas.clear()


def uncount(tx: Tx, groups: Sequence[tuple[str, str, str, int]]) -> None:
    """Take ``(day, levels, mechanism, count)`` groups of deleted aggregates off the counts (in key
    order, as :meth:`AggregateCounts.flush`); a count that reaches 0 goes."""
    for day, levels, mechanism, count in sorted(groups):
        count_aggregate(tx, day, levels, mechanism, -int(count))
        tx.execute(
            "DELETE FROM aggregate_counts WHERE day = ? AND levels = ? AND mechanism = ? AND count <= 0",
            (day, levels, mechanism),
        )


def erase_aggregates(tx: Tx, user_id: str) -> None:
    """Delete every aggregate of ``user_id`` and take them off the counts."""
    groups = tx.execute(
        "SELECT day, levels, mechanism, COUNT(*) FROM aggregates WHERE user_id = ?"
        " GROUP BY day, levels, mechanism ORDER BY day, levels, mechanism",
        (user_id,),
    ).fetchall()
    uncount(tx, groups)
    tx.execute("DELETE FROM aggregates WHERE user_id = ?", (user_id,))
