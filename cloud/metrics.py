"""Prometheus metrics of the API and the workers, declared once (names, help, labels, buckets).

- The API counts requests, their latency and bytes per route *template* (``/v1/admin/users/{user_id}``,
  never a path with an id in it; an unmatched path is ``unmatched``) in :func:`metrics_middleware`,
  and pushed mutations by result in the sync service.
- The workers count jobs (duration and outcome), pushes by outcome and guardrail decisions by
  reason code and risk band.
- Gauges that need a query (devices seen, outbox rows, the oldest due row, queue depth, offers by
  status: the funnel) are set by each worker every ``METRICS_INTERVAL_S`` (:func:`refresh_gauges`),
  not computed per scrape, so a scrape costs no query.

No label holds a user, device or offer id: every label has a small, fixed set of values.

Several processes: with ``PROMETHEUS_MULTIPROC_DIR`` set (the folder must exist and be emptied
before the processes start; ``make run`` uses ``<DATA_DIR>/metrics``), every API process and
worker of a host writes its samples there and ``/metrics`` of any API process serves the sum
(the gauges: the most recent value any worker wrote). Without it, each process serves its own.
``/metrics`` needs the admin token: business figures are not public.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from typing import Final, Generic, NamedTuple, TypeVar

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from cloud.constants import METRICS_MULTIPROC_ENV


class MetricDoc(NamedTuple):
    """One declared metric, as the table of ``docs/operations.md`` shows it."""

    name: str
    kind: str
    labels: tuple[str, ...]
    help: str
    source: str


DECLARED: Final[list[MetricDoc]] = []
"""Every metric below, in declaration order (rendered by :func:`render_table`)."""


def _doc(kind: str, name: str, help: str, labels: Sequence[str], source: str) -> None:
    suffix = "_total" if kind == "counter" else ""
    DECLARED.append(MetricDoc(name + suffix, kind, tuple(labels), help, source))


def _counter(name: str, help: str, labels: Sequence[str], source: str) -> Counter:
    _doc("counter", name, help, labels, source)
    return Counter(name, help, labels)


def _histogram(
    name: str, help: str, labels: Sequence[str], source: str, buckets: Sequence[float]
) -> Histogram:
    _doc("histogram", name, help, labels, source)
    return Histogram(name, help, labels, buckets=buckets)


def _gauge(name: str, help: str, labels: Sequence[str] = ()) -> Gauge:
    # Set by every worker from the same query: the most recent value is the true one.
    _doc("gauge", name, help, labels, "workers, every METRICS_INTERVAL_S")
    return Gauge(name, help, labels, multiprocess_mode="mostrecent")


CONTENT_TYPE: Final = CONTENT_TYPE_LATEST
UNMATCHED: Final = "unmatched"
_METHODS: Final = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})

# --- the API ------------------------------------------------------------------------------------

HTTP_REQUESTS: Final = _counter(
    "ec_http_requests",
    "HTTP requests answered, by route template and status",
    ["method", "route", "status"],
    "API",
)
HTTP_DURATION_NAME: Final = "ec_http_request_duration_seconds"
HTTP_DURATION: Final = _histogram(
    HTTP_DURATION_NAME,
    "Time from a request's arrival to its last response byte, by route template",
    ["method", "route"],
    "API",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
HTTP_BYTES_IN: Final = _counter(
    "ec_http_request_bytes", "Request body bytes (Content-Length)", ["route"], "API"
)
HTTP_BYTES_OUT: Final = _counter("ec_http_response_bytes", "Response body bytes sent", ["route"], "API")
SYNC_MUTATIONS: Final = _counter(
    "ec_sync_mutations", "Pushed mutations by result: status, and a refusal's code", ["status", "code"], "API"
)

RATE_LIMITS: Final = _counter(
    "ec_rate_limit_refusals",
    "Requests refused by a rate limit (limited) or because the limiter could not reach Redis (unavailable)",
    ["scope", "outcome"],
    "API",
)

# --- the workers --------------------------------------------------------------------------------

JOBS: Final = _counter(
    "ec_jobs",
    "Jobs run, by job and outcome (the word it returned, retry, or error)",
    ["job", "outcome"],
    "workers",
)
JOB_DURATION: Final = _histogram(
    "ec_job_duration_seconds",
    "Job run time",
    ["job"],
    "workers",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
PUSHES: Final = _counter(
    "ec_pushes", "Pushes to one device token, by sender and outcome", ["sender", "outcome"], "workers"
)
GUARDRAIL: Final = _counter(
    "ec_guardrail_decisions",
    "Credit evaluations by the guardrail's reason code (none: it let the proposal pass) and risk band",
    ["code", "risk_band"],
    "workers",
)

# --- kept by the workers (a query each, every METRICS_INTERVAL_S) --------------------------------

DEVICES_SEEN: Final = _gauge("ec_devices_seen", "Devices that synced within the window (1h, 24h)", ["window"])
OUTBOX_ROWS: Final = _gauge("ec_outbox_rows", "Outbox rows by kind and state", ["kind", "state"])
OUTBOX_OLDEST_DUE_AGE: Final = _gauge(
    "ec_outbox_oldest_due_age_seconds",
    "How long the longest-waiting due pending row has been able to run (0: none)",
)
QUEUE_DEPTH: Final = _gauge("ec_queue_depth", "Jobs waiting in the queue")
OFFERS: Final = _gauge("ec_offers", "Offers by status: the funnel", ["status"])
GAUGES_AT: Final = _gauge("ec_gauges_refreshed_timestamp_seconds", "When a worker last set the gauges above")


def render_table() -> str:
    """The metrics table of ``docs/operations.md``, in declaration order."""
    lines = ["| metric | type | labels | meaning | kept by |", "|---|---|---|---|---|"]
    for m in DECLARED:
        labels = ", ".join(f"`{label}`" for label in m.labels) or "—"
        lines.append(f"| `{m.name}` | {m.kind} | {labels} | {m.help} | {m.source} |")
    return "\n".join(lines) + "\n"


def _registry() -> CollectorRegistry:
    if os.environ.get(METRICS_MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    return REGISTRY


def render() -> bytes:
    """The exposition text of this process, or of every process of the host in multiprocess mode."""
    return generate_latest(_registry())


def route_totals(method: str, route: str) -> tuple[float, float]:
    """``(requests answered, seconds spent on them)`` of one route, from the latency histogram: the
    host's in multiprocess mode, else this process's. The dashboard's rates are differences of these."""
    count = total = 0.0
    for family in _registry().collect():
        if family.name != HTTP_DURATION_NAME:
            continue
        for sample in family.samples:
            if sample.labels.get("route") != route or sample.labels.get("method") != method:
                continue
            if sample.name.endswith("_count"):
                count += sample.value
            elif sample.name.endswith("_sum"):
                total += sample.value
    return count, total


M = TypeVar("M", Counter, Histogram)


class _Children(Generic[M]):
    """A metric's label children, looked up once per label set: ``.labels()`` costs more than the
    increment. Every label here has a small, fixed set of values, so the cache stays small."""

    def __init__(self, metric: M) -> None:
        self._metric: M = metric
        self._children: dict[tuple[str, ...], M] = {}

    def __call__(self, *labels: str) -> M:
        child = self._children.get(labels)
        if child is None:
            child = self._children[labels] = self._metric.labels(*labels)
        return child


_mutations: Final = _Children(SYNC_MUTATIONS)


def count_results(results: Iterable[tuple[str, str | None]]) -> None:
    """Count a sync's per-mutation results, ``(status, code)`` each."""
    tally: dict[tuple[str, str], int] = {}
    for status, code in results:
        key = (status, code or "")
        tally[key] = tally.get(key, 0) + 1
    for (status, code), n in tally.items():
        _mutations(status, code).inc(n)


def metrics_middleware(app: ASGIApp) -> ASGIApp:
    """Wrap ``app`` (outside Litestar's router, which sets the route template on the scope) to count
    every HTTP request."""
    requests = _Children(HTTP_REQUESTS)
    durations = _Children(HTTP_DURATION)
    bytes_in = _Children(HTTP_BYTES_IN)
    bytes_out = _Children(HTTP_BYTES_OUT)

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        sent = 0

        async def counting_send(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await app(scope, receive, counting_send)
        finally:
            route = scope.get("path_template") or UNMATCHED
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            requests(method, route, str(status)).inc()
            durations(method, route).observe(time.perf_counter() - started)
            received = _content_length(scope)
            if received:
                bytes_in(route).inc(received)
            if sent:
                bytes_out(route).inc(sent)

    return middleware


def _content_length(scope: Scope) -> int:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0
