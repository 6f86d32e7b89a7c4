"""Clock skew, retry backoff and ``Retry-After`` as pure functions (``now`` and randomness passed in)."""

from __future__ import annotations

from datetime import UTC
from email.utils import parsedate_to_datetime

BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 15 * 60.0


def clock_skew_ms(device_time_ms: int, server_time_ms: int) -> int:
    """Device clock minus server clock, in ms (positive: the device runs ahead)."""
    return device_time_ms - server_time_ms


def to_server_time(device_time_ms: int, skew_ms: int) -> int:
    """A device timestamp expressed on the server's clock."""
    return device_time_ms - skew_ms


def backoff_delay_s(
    failures: int, unit_random: float, base_s: float = BACKOFF_BASE_S, cap_s: float = BACKOFF_CAP_S
) -> float:
    """Exponential backoff with full jitter: uniform in ``[0, min(cap, base * 2**(failures-1))]``.

    ``failures`` counts consecutive failed attempts (>= 1); ``unit_random`` is in ``[0, 1)``.
    """
    if failures < 1:
        return 0.0
    if not 0.0 <= unit_random < 1.0:
        raise ValueError("unit_random must be in [0, 1)")
    ceiling = min(cap_s, base_s * 2.0 ** min(failures - 1, 62))
    return ceiling * unit_random


def parse_retry_after(value: str | None, now_s: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date); ``None`` if absent/bad."""
    if value is None:
        return None
    value = value.strip()
    # ASCII only: str.isdigit() also admits digits such as "²" that float() refuses.
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        # A "-0000" zone yields a naive datetime; HTTP dates are always UTC (RFC 9110 §5.6.7).
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now_s)
