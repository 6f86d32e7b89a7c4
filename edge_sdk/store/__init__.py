"""Local store of the edge SDK (SQLite through sqlite-utils): outbox, mirror, sync state, credentials."""

from edge_sdk.store.local import (
    AckResult,
    ApplyResult,
    Credentials,
    LocalStore,
    OutboxRow,
    Rejection,
    SyncState,
    open_store,
)

__all__ = [
    "AckResult",
    "ApplyResult",
    "Credentials",
    "LocalStore",
    "OutboxRow",
    "Rejection",
    "SyncState",
    "open_store",
]
