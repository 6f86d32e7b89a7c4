"""What the metrics cost a request: the ASGI app a sync request meets, called bare and inside
:func:`cloud.metrics.metrics_middleware` (counter, latency histogram, bytes in and out, by route
template), plus the count of a sync's 10 mutation results, in one run; once with the process's own
registry and once in multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``: every sample written to a
memory-mapped file), which prometheus-client chooses at import, so that run is a child process.
``python -m bench.metrics [--requests 20000]``.

Figures: µs per request for each, and the overhead; the app stands for Litestar and answers at
once, so the difference is the middleware's own cost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

_BODY = b"x" * 600  # a sync reply's size
_RESULTS = [("applied", None)] * 9 + [("rejected", "consent_missing")]


async def _app(scope: Any, receive: Any, send: Any) -> None:
    scope["path_template"] = "/v1/sync"  # what Litestar's router leaves on the scope
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": _BODY})


async def _noop(message: Any) -> None:
    return None


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


def _scope() -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": "/v1/sync", "headers": [(b"content-length", b"1800")]}


async def _time(app: Any, requests: int, count_results: Any = None) -> float:
    started = time.perf_counter()
    for _ in range(requests):
        await app(_scope(), _receive, _noop)
        if count_results is not None:
            count_results(_RESULTS)
    return (time.perf_counter() - started) / requests * 1e6


def measure(requests: int) -> dict[str, float]:
    """µs per request, this process's registry: bare, then with the middleware and the results."""
    from cloud.metrics import count_results, metrics_middleware

    wrapped = metrics_middleware(_app)

    async def run() -> dict[str, float]:
        await _time(_app, requests // 10)  # warm-up
        await _time(wrapped, requests // 10, count_results)
        bare = await _time(_app, requests)
        counted = await _time(wrapped, requests, count_results)
        return {"bare": bare, "metrics": counted}

    return asyncio.run(run())


def measure_multiprocess(requests: int) -> dict[str, float]:
    """The same, in a child process with ``PROMETHEUS_MULTIPROC_DIR`` set."""
    with tempfile.TemporaryDirectory(prefix="ec-bench-metrics-") as folder:
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": folder}
        code = f"import json, bench.metrics as m; print(json.dumps(m.measure({requests})))"
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
        ).stdout
    figures: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.metrics", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000, help="requests per side (default 20000)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.requests < 10:
        parser.error("--requests must be at least 10")
    table = Table(title=f"metrics per request, {args.requests} requests per side")
    for column in ("registry", "bare app µs", "with metrics µs", "overhead µs"):
        table.add_column(column, justify="right")
    for name, figures in (
        ("this process", measure(args.requests)),
        ("multiprocess files", measure_multiprocess(args.requests)),
    ):
        overhead = figures["metrics"] - figures["bare"]
        table.add_row(name, f"{figures['bare']:.1f}", f"{figures['metrics']:.1f}", f"{overhead:.1f}")
    Console(width=120).print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
