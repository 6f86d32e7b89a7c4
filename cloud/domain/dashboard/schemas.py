"""The dashboard's snapshot: figures and server-rendered charts, one JSON object per update."""

from __future__ import annotations

import msgspec


class DashboardFigures(msgspec.Struct, kw_only=True):
    sync_requests_per_s: float | None
    """Over the time since the stream's previous snapshot (``null`` on the first)."""
    sync_latency_ms: float | None
    """Mean latency of the syncs answered in that time (``null`` when none)."""
    syncs_answered: int
    """Since the API processes of this host started."""
    devices_seen_1h: int
    devices_seen_24h: int
    outbox_pending: int
    outbox_dead: int
    oldest_due_age_s: float | None
    queue_depth: int | None
    """``null`` when the queue cannot be read (no Redis)."""
    offers: dict[str, int]
    """Offers by status: the funnel (offered, accepted, applied, failed, and the closed ones)."""
    pushes_24h: dict[str, int]
    """Push attempts of the last 24 hours by outcome."""
    guardrail_24h: dict[str, dict[str, int]]
    """Evaluations of the last 24 hours by risk band, then by guardrail code (``none``: passed)."""
    stress_reports: int
    """Reports behind the stress distribution (the last 7 days)."""
    open_reviews: int
    """Users' requests for a person to review a decision, waiting for an operator
    (``GET /v1/admin/reviews?status=open``)."""


class DashboardSnapshot(msgspec.Struct, kw_only=True):
    at: int
    """Epoch ms when it was computed."""
    figures: DashboardFigures
    charts: dict[str, str]
    """Chart name -> SVG markup, rendered by the server (text escaped)."""
