"""Local store of the edge SDK (SQLite through sqlite-utils): outbox, mirror, sync state, credentials."""

from edge_sdk.store.local import (
    Credentials,
    LocalStore,
    OutboxRow,
    Rejection,
    ReplyResult,
    SyncState,
    open_store,
)

__all__ = [
    "Credentials",
    "LocalStore",
    "OutboxRow",
    "Rejection",
    "ReplyResult",
    "SyncState",
    "open_store",
]
