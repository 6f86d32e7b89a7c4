"""Sync protocol v1: wire types, codecs and the pure exactly-once and paging rules.

Nothing in this package performs I/O or reads a clock; callers pass ``now`` in.
The normative description is ``docs/specs/sync-protocol.md``.
"""

from sync.codes import ErrorCode, RejectionCode, ResultStatus
from sync.limits import (
    MAX_BODY_BYTES,
    MAX_MUTATIONS,
    MAX_PULL_LIMIT,
    PROTOCOL_VERSION,
    SUPPORTED_PROTOCOLS,
)

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_MUTATIONS",
    "MAX_PULL_LIMIT",
    "PROTOCOL_VERSION",
    "SUPPORTED_PROTOCOLS",
    "ErrorCode",
    "RejectionCode",
    "ResultStatus",
]
