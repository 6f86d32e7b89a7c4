"""Context features: local time of day and session length."""

from __future__ import annotations

import math

from edge_sdk.features.errors import InvalidTzOffset

MS_PER_DAY = 86_400_000
MS_PER_HOUR = 3_600_000
MAX_TZ_OFFSET_MIN = 840
"""UTC+14, the largest offset in use; -840 the other way (same bound as sync's ``tz_offset_min``)."""


def check_tz_offset(tz_offset_min: int) -> int:
    """Return ``tz_offset_min`` or raise :class:`InvalidTzOffset`."""
    if type(tz_offset_min) is not int or not -MAX_TZ_OFFSET_MIN <= tz_offset_min <= MAX_TZ_OFFSET_MIN:
        raise InvalidTzOffset(f"tz_offset_min must be an integer in -840..840, got {tz_offset_min!r}")
    return tz_offset_min


def local_hour(t_ms: int, tz_offset_min: int) -> float:
    """The local hour of day (fractional, ``0 <= h < 24``) of epoch ms ``t_ms`` at that UTC offset."""
    local_ms = (t_ms + check_tz_offset(tz_offset_min) * 60_000) % MS_PER_DAY
    return local_ms / MS_PER_HOUR


def time_of_day(t_ms: int, tz_offset_min: int) -> tuple[float, float]:
    """``(sin, cos)`` of the local hour on the 24 h circle, so 23:59 sits next to 00:00."""
    angle = 2.0 * math.pi * local_hour(t_ms, tz_offset_min) / 24.0
    return math.sin(angle), math.cos(angle)


def session_length_s(start_ms: int, end_ms: int) -> float:
    """Span of the window in seconds."""
    return (end_ms - start_ms) / 1000.0
