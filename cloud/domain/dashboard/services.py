"""The dashboard's snapshot, computed by the API process that serves a dashboard stream.

Figures come from the store (devices seen, the outbox, the offer funnel, the last day's pushes and
evaluations, the week's debiased stress distribution), the queue, and the request metrics of the
host (:func:`cloud.metrics.route_totals`: sync requests/s and mean latency between two snapshots of
one stream). Charts are SVG rendered here (:mod:`cloud.domain.dashboard.charts`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Final, Protocol

import msgspec

from cloud.clock import now_ms
from cloud.constants import SYNC_PATH
from cloud.domain.analytics.reports import Field
from cloud.domain.analytics.services import AnalyticsService
from cloud.domain.credit.evaluation import EvaluationResult
from cloud.domain.dashboard.charts import bar_chart, empty_chart, interval_chart, sparkline
from cloud.domain.dashboard.schemas import DashboardFigures, DashboardSnapshot
from cloud.metrics import route_totals
from cloud.store.protocol import Store
from cloud.store.records import OutboxState
from sync.messages import OfferStatus

DAY_MS: Final = 86_400_000
STRESS_WINDOW_DAYS: Final = 7
HISTORY: Final = 60
"""Points kept by a stream for its sparkline (one per snapshot)."""
FUNNEL: Final = (OfferStatus.OFFERED, OfferStatus.ACCEPTED, OfferStatus.APPLIED, OfferStatus.FAILED)
BANDS: Final = ("A", "B", "C", "D", "E")
FIELDS: Final[tuple[Field, ...]] = ("stress", "valence", "arousal")
"""The reported emotion fields, each shown as its debiased population distribution."""


class DepthReader(Protocol):
    async def depth(self) -> int: ...


class StreamState:
    """What one stream remembers between its snapshots: the last totals and the rate history."""

    def __init__(self) -> None:
        self.totals: tuple[float, float, int] | None = None
        self.rates: list[float] = []


class DashboardService:
    def __init__(
        self,
        store: Store,
        analytics: AnalyticsService,
        queue: DepthReader | None,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._store = store
        self._analytics = analytics
        self._queue = queue
        self._clock = clock

    async def snapshot(self, state: StreamState | None = None) -> DashboardSnapshot:
        """Everything the page shows now; ``state`` (a stream's) turns totals into rates."""
        now = self._clock()
        fleet = await self._store.fleet_counts(now)
        outbox = await self._store.outbox_stats(now=now)
        recent = await self._store.recent_activity(now - DAY_MS)
        day = dt.datetime.fromtimestamp(now / 1000, dt.UTC).date()
        populations = await self._analytics.populations(FIELDS, day, STRESS_WINDOW_DAYS)
        depth = await self._depth()

        count, seconds = route_totals("POST", SYNC_PATH)
        rate = latency = None
        if state is not None:
            if state.totals is not None:
                last_count, last_seconds, last_at = state.totals
                answered = count - last_count
                elapsed_s = max(0.001, (now - last_at) / 1000)
                rate = max(0.0, answered) / elapsed_s
                latency = (seconds - last_seconds) / answered * 1000 if answered > 0 else None
                state.rates = [*state.rates, rate][-HISTORY:]
            state.totals = (count, seconds, now)

        pending = sum(c.count for c in outbox.counts if c.state == OutboxState.PENDING.value)
        dead = sum(c.count for c in outbox.counts if c.state == OutboxState.DEAD.value)
        guardrail = _guardrail(recent.evaluation_results)
        # Levels of different k are not comparable: each chart shows the k most reports used.
        shown = {f: max(p.distributions, key=lambda d: d.n, default=None) for f, p in populations.items()}
        distribution = shown["stress"]
        figures = DashboardFigures(
            sync_requests_per_s=rate,
            sync_latency_ms=latency,
            syncs_answered=int(count),
            devices_seen_1h=fleet.devices_seen_1h,
            devices_seen_24h=fleet.devices_seen_24h,
            outbox_pending=pending,
            outbox_dead=dead,
            oldest_due_age_s=None
            if outbox.oldest_pending_at is None
            else max(0, now - outbox.oldest_pending_at) / 1000,
            queue_depth=depth,
            offers={status.value: fleet.offers_by_status.get(status.value, 0) for status in OfferStatus},
            pushes_24h=recent.pushes_by_outcome,
            guardrail_24h=guardrail,
            stress_reports=0 if distribution is None else distribution.n,
            open_reviews=fleet.open_reviews,
        )
        charts: dict[str, str] = {
            "sync_rate": sparkline("Sync requests per second", state.rates if state else [])
            if state and state.rates
            else empty_chart("Sync requests per second"),
            "funnel": bar_chart(
                "Offer funnel", [(s.value, fleet.offers_by_status.get(s.value, 0)) for s in FUNNEL]
            ),
            "pushes": bar_chart("Push outcomes, 24 h", sorted(recent.pushes_by_outcome.items()))
            if recent.pushes_by_outcome
            else empty_chart("Push outcomes, 24 h"),
            "guardrail": bar_chart(
                "Evaluations the guardrail changed, by risk band, 24 h",
                [
                    (band, sum(n for code, n in guardrail.get(band, {}).items() if code != "none"))
                    for band in BANDS
                ],
            ),
        }
        for field, dist in shown.items():
            title = f"{field.capitalize()} levels, {STRESS_WINDOW_DAYS} days"
            charts[field] = (
                empty_chart(title)
                if dist is None
                else interval_chart(
                    f"{title} (debiased, 95 % intervals)",
                    [(f"L{lv.level}", lv.shown, lv.shown_lower, lv.shown_upper) for lv in dist.levels],
                )
            )
        return DashboardSnapshot(at=now, figures=figures, charts=charts)

    async def _depth(self) -> int | None:
        if self._queue is None:
            return None
        try:
            return await self._queue.depth()
        except Exception:  # Redis briefly away: the figure says unknown, the page still updates
            return None


def _guardrail(results: list[bytes]) -> dict[str, dict[str, int]]:
    by_band: dict[str, dict[str, int]] = {}
    for raw in results:
        try:
            result = msgspec.json.decode(raw, type=EvaluationResult)
        except msgspec.DecodeError:
            continue  # a result this version cannot read: left out of the chart, not fatal
        if result.guardrail is None:
            continue
        codes = by_band.setdefault(result.risk_band or "none", {})
        for code in result.guardrail.reason_codes or ["none"]:
            codes[code] = codes.get(code, 0) + 1
    return by_band
