"""Time of day and session length."""

from __future__ import annotations

import math

import pytest

from edge_sdk.features import InvalidTzOffset, context

HOUR_MS = 3_600_000
MIDNIGHT_UTC = 1_704_067_200_000  # 2024-01-01T00:00:00Z


def test_local_hour_applies_the_utc_offset() -> None:
    assert context.local_hour(MIDNIGHT_UTC + 6 * HOUR_MS + 30 * 60_000, 0) == pytest.approx(6.5)
    assert context.local_hour(MIDNIGHT_UTC + 22 * HOUR_MS, 120) == 0.0
    assert context.local_hour(MIDNIGHT_UTC + HOUR_MS, -120) == 23.0
    assert context.local_hour(MIDNIGHT_UTC, 330) == 5.5


def test_time_of_day_on_the_circle() -> None:
    assert context.time_of_day(MIDNIGHT_UTC, 0) == (0.0, 1.0)
    sin6, cos6 = context.time_of_day(MIDNIGHT_UTC + 6 * HOUR_MS, 0)
    assert sin6 == pytest.approx(1.0)
    assert cos6 == pytest.approx(0.0, abs=1e-12)
    sin23, cos23 = context.time_of_day(MIDNIGHT_UTC + HOUR_MS, -120)
    assert sin23 == pytest.approx(-math.sin(math.pi / 12))
    assert cos23 == pytest.approx(math.cos(math.pi / 12))


@pytest.mark.parametrize("offset", [841, -841, 1.5, True, "60"])
def test_an_invalid_utc_offset_is_refused(offset: object) -> None:
    with pytest.raises(InvalidTzOffset):
        context.time_of_day(MIDNIGHT_UTC, offset)  # type: ignore[arg-type]


def test_session_length() -> None:
    assert context.session_length_s(MIDNIGHT_UTC, MIDNIGHT_UTC + 59_500) == 59.5
    assert context.session_length_s(MIDNIGHT_UTC, MIDNIGHT_UTC) == 0.0
