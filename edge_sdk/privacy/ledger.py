"""The on-device ε ledger as the user reads it: ε spent per local day and in total, against the cap."""

from __future__ import annotations

import math

import msgspec

from edge_sdk.privacy.settings import PrivacySettings
from edge_sdk.store import privacy as tables
from edge_sdk.store.local import LocalStore


class LedgerEntry(msgspec.Struct, frozen=True, kw_only=True):
    day: str
    """The local day (ISO date)."""
    status: str
    """``released`` (an aggregate was queued) or ``below_minimum`` (too few windows; nothing sent)."""
    epsilon: float
    """ε spent on the day (0 when not released)."""
    stress_epsilon: float
    valence_epsilon: float
    arousal_epsilon: float
    window_bucket: int | None
    seq: int | None
    """The outbox seq of the day's ``SubmitAggregate``."""
    recorded_at: int


class PrivacyLedger(msgspec.Struct, frozen=True, kw_only=True):
    entries: list[LedgerEntry]
    """Oldest day first."""
    lifetime_epsilon: float
    """Total ε this install has spent (a withdrawn aggregate still counts: it was drawn)."""
    lifetime_cap: float
    remaining: float
    """ε left under the cap; releases stop when a whole day's ε no longer fits."""


def read_ledger(store: LocalStore, settings: PrivacySettings) -> PrivacyLedger:
    with store.atomic() as db:
        rows = tables.ledger_rows(db)
        total = tables.lifetime_epsilon(db)
    entries = [
        LedgerEntry(
            day=r.day,
            status=r.status,
            epsilon=r.epsilon,
            stress_epsilon=r.stress_epsilon,
            valence_epsilon=r.valence_epsilon,
            arousal_epsilon=r.arousal_epsilon,
            window_bucket=r.window_bucket,
            seq=r.seq,
            recorded_at=r.recorded_at,
        )
        for r in rows
    ]
    return PrivacyLedger(
        entries=entries,
        lifetime_epsilon=total,
        lifetime_cap=settings.lifetime_cap,
        remaining=max(0.0, settings.lifetime_cap - total) if math.isfinite(total) else 0.0,
    )
