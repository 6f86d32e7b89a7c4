"""What a login's password check costs at the chosen argon2id configuration
(:mod:`cloud.domain.operators.passwords`): the time of one verification (median of ``--rounds``),
and the memory it takes, read as the growth of a fresh process's peak resident size across one
verification, side by side with the pool's bound (its threads times the configured memory).

``python -m bench.argon2 [--rounds 20]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from argon2 import PasswordHasher
from rich.console import Console
from rich.table import Table

from cloud.domain.operators.passwords import MEMORY_KIB, PARALLELISM, TIME_COST, WORKERS


def verify_ms(rounds: int) -> list[float]:
    hasher = PasswordHasher(time_cost=TIME_COST, memory_cost=MEMORY_KIB, parallelism=PARALLELISM)
    digest = hasher.hash("a password of an operator")
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        hasher.verify(digest, "a password of an operator")
        times.append((time.perf_counter() - started) * 1000)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args(argv)
    times = verify_ms(args.rounds)
    hasher_peak = _hash_peak_kib()
    table = Table(title=f"argon2id, {MEMORY_KIB // 1024} MiB, {TIME_COST} passes, {PARALLELISM} lane")
    for column in ("figure", "value"):
        table.add_column(column)
    table.add_row("verification, median", f"{statistics.median(times):.1f} ms")
    table.add_row("verification, slowest", f"{max(times):.1f} ms")
    table.add_row("peak memory of one hash (fresh process)", f"{hasher_peak / 1024:.1f} MiB")
    table.add_row(
        "bound of the pool",
        f"{WORKERS} threads x {MEMORY_KIB // 1024} MiB = {WORKERS * MEMORY_KIB // 1024} MiB",
    )
    table.add_row("logins a second the pool can verify", f"{WORKERS * 1000 / statistics.median(times):.0f}")
    Console().print(table)
    return 0


def _hash_peak_kib() -> int:
    """Peak resident growth of a fresh process across one hash (Linux)."""
    # A fresh process that imports nothing but argon2; Linux's peak resident size (VmHWM) is
    # reset just before the hash (clear_refs), so the growth is the hash's own.
    code = (
        "import re\n"
        "from argon2 import PasswordHasher\n"
        "def kib(key):\n"
        "    return int(re.search(key + r':\\s+(\\d+)', open('/proc/self/status').read()).group(1))\n"
        f"h = PasswordHasher(time_cost={TIME_COST}, memory_cost={MEMORY_KIB}, parallelism={PARALLELISM})\n"
        "open('/proc/self/clear_refs', 'w').write('5')\n"
        "before = kib('VmRSS')\n"
        "h.hash('a password of an operator')\n"
        "print(kib('VmHWM') - before)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return int(out.strip())


if __name__ == "__main__":
    raise SystemExit(main())
