"""``python -m bench``: run every benchmark in turn, each with its defaults.

Each benchmark also runs on its own with options: ``python -m bench.<name> --help``.
"""

import importlib
import sys

BENCHMARKS = ("sync_ingest", "offer_pipeline", "edge_record", "edge_pipeline", "privacy_analytics")


def main() -> int:
    status = 0
    for name in BENCHMARKS:
        module = importlib.import_module(f"bench.{name}")
        status = max(status, module.main([]))
    return status


sys.exit(main())
