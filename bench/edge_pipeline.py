"""Edge pipeline figures: capture, features + inference per backend, memory, and wire size.

``python -m bench.edge_pipeline [--windows N]`` prints:

- µs per event of ``Recorder.record()`` in batches of 100 (validation + buffering);
- windows per second through features (``extract_many``) + inference (``InferenceEngine.score``)
  on one core, per backend and model variant, next to features alone and inference alone;
- process RSS after importing the SDK and loading the model, per backend (fresh subprocess each,
  next to a bare interpreter that has imported numpy);
- bytes of one day's ``SubmitAggregate`` on the wire (msgpack and JSON, with the default mechanism).

The process is pinned to one CPU (where the OS allows it) and every runtime runs one thread. Windows
are synthetic 60 s activity windows: about 120 key events, 240 touch samples and 50 Hz motion.
Figures belong to this machine; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray
from rich.console import Console
from rich.table import Table

from edge_sdk.capture import Recorder
from edge_sdk.capture.events import AppEvent, Event, KeyClass, KeyEvent, MotionEvent, TouchEvent
from edge_sdk.capture.window import ActivityWindow, window_from_events
from edge_sdk.features import extract_many
from edge_sdk.inference import HostBackend, InferenceEngine, ModelLoader, committed_model_dir
from edge_sdk.privacy.daily import mechanism_of
from edge_sdk.privacy.settings import PrivacySettings
from sync.codec import MediaType, encode_mutation
from sync.messages import Levels, SubmitAggregate

START_MS: Final = 1_700_000_000_000
WINDOW_MS: Final = 60_000

_RSS_SCRIPT: Final = """
import sys
{imports}
def rss_kib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
print(rss_kib())
"""
_LOAD: Final = (
    "from edge_sdk.inference import ModelLoader, committed_model_dir\n"
    "model = ModelLoader({backend!r}).load_directory(committed_model_dir(), {variant!r})\n"
)


def synthetic_window(rng: np.random.Generator, start_ms: int) -> list[Event]:
    """One 60 s window of plausible events (typing bursts, taps and swipes, 50 Hz motion)."""
    events: list[Event] = [AppEvent(t_ms=start_ms, kind="screen_enter", screen="home")]
    t = start_ms + 100
    for _ in range(120):
        t += int(rng.gamma(2.0, 120.0)) + 20
        key_class: KeyClass = "backspace" if rng.random() < 0.06 else "character"
        events.append(KeyEvent(down_ms=t, up_ms=t + int(rng.normal(95, 15)), key_class=key_class))
    t = start_ms + 200
    for _ in range(60):
        t += int(rng.integers(300, 900))
        x, y = float(rng.uniform(0, 1080)), float(rng.uniform(0, 2000))
        for phase, dt in (("down", 0), ("move", 16), ("move", 32), ("up", 48)):
            events.append(
                TouchEvent(
                    t_ms=t + dt,
                    phase=phase,  # type: ignore[arg-type]
                    pressure=float(np.clip(rng.normal(0.45, 0.08), 0, 1)),
                    size=float(abs(rng.normal(0.3, 0.04))),
                    x=x + dt * 3.0,
                    y=y + dt * 1.5,
                )
            )
    for i in range(WINDOW_MS // 20):
        events.append(
            MotionEvent(
                t_ms=start_ms + i * 20,
                ax=float(rng.normal(0, 0.3)),
                ay=float(rng.normal(0, 0.3)),
                az=float(9.81 + rng.normal(0, 0.3)),
            )
        )
    return events


def build_windows(n: int, seed: int = 0) -> list[ActivityWindow]:
    rng = np.random.default_rng(seed)
    return [window_from_events(synthetic_window(rng, START_MS + i * WINDOW_MS)) for i in range(n)]


def best_of(repeats: int, run: Callable[[], object]) -> float:
    """Fastest of ``repeats`` runs, in seconds (the least disturbed by other processes)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def record_us_per_event(repeats: int = 5, n_windows: int = 5) -> float:
    """µs per event of ``Recorder.record()`` fed a time-ordered stream in batches of 100."""
    rng = np.random.default_rng(1)
    stream: list[Event] = []
    for i in range(n_windows):
        stream.extend(synthetic_window(rng, START_MS + i * WINDOW_MS))
    stream.sort(key=lambda e: e.down_ms if isinstance(e, KeyEvent) else e.t_ms)
    batches = [stream[j : j + 100] for j in range(0, len(stream), 100)]

    def run() -> None:
        recorder = Recorder(enabled=lambda: True, max_buffered_events=10_000_000)
        for batch in batches:
            recorder.record(batch)

    return best_of(repeats, run) / len(stream) * 1e6


def rss_kib(imports: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT.format(imports=imports)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    return int(out.stdout.strip().splitlines()[-1])


def aggregate_bytes() -> tuple[int, int]:
    settings = PrivacySettings()
    aggregate = SubmitAggregate(
        seq=123,
        created_at=START_MS,
        day="2024-06-01",
        tz_offset_min=120,
        window_bucket=32,
        levels=Levels(stress=settings.stress_levels - 1, valence=1, arousal=0),
        mechanism=mechanism_of(settings),
        model_version="emotion-v1.0.0",
    )
    return len(encode_mutation(aggregate, MediaType.MSGPACK)), len(encode_mutation(aggregate, MediaType.JSON))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Edge pipeline figures")
    parser.add_argument("--windows", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    console = Console()

    windows = build_windows(args.windows)
    features = extract_many(windows, 120)
    t_features = best_of(args.repeats, lambda: extract_many(windows, 120))

    table = Table(title=f"Features + inference, {args.windows} windows of 60 s, one core")
    for column in ("backend", "variant", "windows/s (features + inference)", "inference µs/window"):
        table.add_column(column, justify="right" if "/" in column else "left")
    table.add_row("features only", "", f"{args.windows / t_features:,.0f}", "")

    from tflite_runtime.interpreter import Interpreter

    def host_callback(model_bytes: bytes, batch: NDArray[np.float32]) -> NDArray[np.float32]:
        runner = host_runners.setdefault(
            model_bytes, Interpreter(model_content=model_bytes, num_threads=1).get_signature_runner()
        )
        out = runner(features=batch)
        return np.concatenate([out[k] for k in ("stress", "valence", "arousal")], axis=1)

    host_runners: dict[bytes, Any] = {}
    backends: list[tuple[str, object]] = [
        ("litert", "litert"),
        ("tflite-runtime", "tflite-runtime"),
        ("host (tflite-runtime callback)", lambda: HostBackend(host_callback)),
    ]
    for label, choice in backends:
        for variant in ("float", "int8") if label != "host (tflite-runtime callback)" else ("float",):
            engine = InferenceEngine(ModelLoader(choice))  # type: ignore[arg-type]
            engine.install_directory(committed_model_dir(), variant)
            t_infer = best_of(args.repeats, lambda e=engine: e.score(features))  # type: ignore[misc]
            t_both = best_of(
                args.repeats,
                lambda e=engine: e.score(extract_many(windows, 120)),  # type: ignore[misc]
            )
            table.add_row(
                label, variant, f"{args.windows / t_both:,.0f}", f"{t_infer / args.windows * 1e6:.2f}"
            )
    console.print(table)

    rss = Table(title="Process RSS (fresh interpreter each)")
    rss.add_column("after")
    rss.add_column("RSS MiB", justify="right")
    rss.add_row("python + numpy", f"{rss_kib('import numpy') / 1024:.1f}")
    for backend in ("litert", "tflite-runtime"):
        imports = "import edge_sdk.client, edge_sdk.features\n" + _LOAD.format(
            backend=backend, variant="int8"
        )
        rss.add_row(f"SDK import + int8 model load ({backend})", f"{rss_kib(imports) / 1024:.1f}")
    console.print(rss)

    msgpack_bytes, json_bytes = aggregate_bytes()
    wire = Table(title="One day's SubmitAggregate on the wire (default PrivacySettings mechanism)")
    wire.add_column("encoding")
    wire.add_column("bytes", justify="right")
    wire.add_row("msgpack", str(msgpack_bytes))
    wire.add_row("JSON", str(json_bytes))
    console.print(wire)
    console.print(f"Recorder.record(): {record_us_per_event():.2f} µs per event in batches of 100")
    return 0


if __name__ == "__main__":
    sys.exit(main())
