"""``python -m bench``: run every benchmark in turn."""

import sys

from bench import sync_ingest


def main() -> int:
    return sync_ingest.main(sys.argv[1:])


sys.exit(main())
