"""What the mobile bridge costs a host: ``record`` of a batch of events through
``mobile_bridge.call`` (a JSON string in, a reply string out) next to the same batches handed to
the SDK directly, in one run: ``python -m bench.bridge [--events 100] [--batches 500]``.

Both sides record the same kind of events (key presses, in time order) into one open store with
``inference`` granted. The bridge side gets the batch as the JSON string a host hands over (its
encoding is the host's, in Kotlin or Swift, and is not timed) and returns the reply string.
Figures: µs per call and the ratio.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from ecs.fleet.phone import wire_event
from edge_sdk.capture import KeyEvent
from edge_sdk.capture.recorder import DEFAULT_MAX_BUFFERED_EVENTS
from mobile_bridge import Bridge


def _keys(start_ms: int, n: int) -> list[KeyEvent]:
    return [KeyEvent(start_ms + i * 50, start_ms + i * 50 + 20, "character") for i in range(n)]


def _wire(events: Sequence[KeyEvent]) -> dict[str, object]:
    return {"events": [wire_event(e) for e in events]}


def measure(events: int, batches: int) -> tuple[float, float]:
    """µs per ``record`` call: the SDK directly, then through the bridge."""
    with tempfile.TemporaryDirectory(prefix="ec-bench-bridge-") as tmp:
        bridge = Bridge()
        opened = json.loads(
            bridge.call("open", json.dumps({"dataDir": tmp, "serverUrl": "http://127.0.0.1:9"}))
        )
        if not opened["ok"]:
            raise RuntimeError(opened)
        bridge.call("grantConsent", '{"scope": "inference"}')
        t = 1_000_000_000_000
        direct = []
        through = []
        for _ in range(batches):
            direct.append(_keys(t, events))
            t += events * 50
        for _ in range(batches):
            through.append(json.dumps(_wire(_keys(t, events))))
            t += events * 50
        with bridge.client() as client:
            started = time.perf_counter()
            for batch in direct:
                client.record(batch)
            direct_us = (time.perf_counter() - started) / batches * 1e6
        started = time.perf_counter()
        for payload in through:
            reply = bridge.call("record", payload)
        bridge_us = (time.perf_counter() - started) / batches * 1e6
        bridge.call("close")
    if json.loads(reply) != {"ok": True, "result": {"kept": events}}:
        raise RuntimeError(f"the bridge did not keep the batch: {reply}")
    return direct_us, bridge_us


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bridge", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100, help="events per call (default 100)")
    parser.add_argument("--batches", type=int, default=500, help="calls per side (default 500)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if not 0 < 2 * args.events * args.batches <= DEFAULT_MAX_BUFFERED_EVENTS:
        # Both sides buffer into one recorder: past its bound, events are dropped, not recorded.
        parser.error(f"2 x events x batches must be 1..{DEFAULT_MAX_BUFFERED_EVENTS}")
    direct_us, bridge_us = measure(args.events, args.batches)
    table = Table(title=f"record of {args.events} key events, {args.batches} calls per side")
    for column in ("SDK directly µs", "through the bridge µs", "overhead µs", "ratio"):
        table.add_column(column, justify="right")
    table.add_row(
        f"{direct_us:.0f}", f"{bridge_us:.0f}", f"{bridge_us - direct_us:.0f}", f"{bridge_us / direct_us:.2f}"
    )
    Console(width=120).print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
