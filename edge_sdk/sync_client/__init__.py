"""Sync client: the engine (protocol and store, no HTTP), the Transport seam and its httpx adapter."""

from edge_sdk.sync_client.engine import ReenrollProvider, SyncEngine
from edge_sdk.sync_client.outcome import SyncOutcome, SyncStatus
from edge_sdk.sync_client.transport import Transport, TransportRequest, TransportResponse

__all__ = [
    "ReenrollProvider",
    "SyncEngine",
    "SyncOutcome",
    "SyncStatus",
    "Transport",
    "TransportRequest",
    "TransportResponse",
]
