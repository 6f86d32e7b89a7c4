"""Protocol version and the hard limits every implementation enforces."""

from typing import Final

PROTOCOL_VERSION: Final = 2
SUPPORTED_PROTOCOLS: Final = (1, 2)

MAX_MUTATIONS: Final = 500
"""Most mutations one request may push; more is answered 413."""

MAX_BODY_BYTES: Final = 1024 * 1024
"""Largest request body in bytes; more is answered 413."""

MAX_NESTING_DEPTH: Final = 32
"""Deepest nesting of arrays and maps a body may have (the protocol needs 5); deeper is answered
400 ``invalid_body`` before the body is decoded."""

DEFAULT_PULL_LIMIT: Final = 200
MAX_PULL_LIMIT: Final = 1000
"""Most changes one reply carries; a larger ``pull_limit`` is clamped."""

DEFAULT_NEXT_SYNC_AFTER_S: Final = 900
