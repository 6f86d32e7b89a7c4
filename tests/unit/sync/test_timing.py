"""Table-driven tests of clock skew, backoff and ``Retry-After`` parsing."""

from __future__ import annotations

import math

import pytest

from sync.timing import (
    BACKOFF_BASE_S,
    BACKOFF_CAP_S,
    backoff_delay_s,
    clock_skew_ms,
    parse_retry_after,
    to_server_time,
)

# --- skew --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("device", "server", "skew"),
    [(1000, 1000, 0), (5000, 2000, 3000), (2000, 5000, -3000), (0, 1_717_243_200_000, -1_717_243_200_000)],
)
def test_clock_skew(device: int, server: int, skew: int) -> None:
    assert clock_skew_ms(device, server) == skew
    # A device timestamp taken at the same instant maps back onto the server clock.
    assert to_server_time(device, skew) == server


# --- backoff -----------------------------------------------------------------------


def test_backoff_constants_are_the_specified_ones() -> None:
    assert BACKOFF_BASE_S == 1.0
    assert BACKOFF_CAP_S == 900.0


@pytest.mark.parametrize("failures", [0, -1, -100])
def test_no_failure_no_delay(failures: int) -> None:
    assert backoff_delay_s(failures, 0.5) == 0.0


CEILINGS = [(1, 1.0), (2, 2.0), (3, 4.0), (5, 16.0), (10, 512.0), (11, 900.0), (12, 900.0), (64, 900.0)]


@pytest.mark.parametrize(("failures", "ceiling"), CEILINGS)
@pytest.mark.parametrize("unit", [0.0, 0.25, 0.5, 0.999999])
def test_full_jitter_scales_the_ceiling(failures: int, ceiling: float, unit: float) -> None:
    assert backoff_delay_s(failures, unit) == pytest.approx(ceiling * unit)


@pytest.mark.parametrize("failures", [*range(1, 80), 1000, 10**6, 10**18])
def test_delay_stays_within_bounds(failures: int) -> None:
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2.0 ** min(failures - 1, 62))
    for unit in (0.0, 0.1, 0.5, 0.9, math.nextafter(1.0, 0.0)):
        delay = backoff_delay_s(failures, unit)
        # <= rather than <: ceiling * (1 - 2**-53) may round up to the ceiling itself.
        assert 0.0 <= delay <= ceiling <= BACKOFF_CAP_S


def test_ceiling_never_decreases_with_failures() -> None:
    top = [backoff_delay_s(n, math.nextafter(1.0, 0.0)) for n in range(1, 40)]
    assert top == sorted(top)
    assert top[-1] == pytest.approx(BACKOFF_CAP_S)


@pytest.mark.parametrize(
    ("failures", "unit", "base", "cap", "expected"),
    [(1, 0.5, 2.0, 60.0, 1.0), (4, 0.5, 2.0, 60.0, 8.0), (6, 0.5, 2.0, 60.0, 30.0), (3, 0.5, 0.1, 1.0, 0.2)],
)
def test_custom_base_and_cap(failures: int, unit: float, base: float, cap: float, expected: float) -> None:
    assert backoff_delay_s(failures, unit, base_s=base, cap_s=cap) == pytest.approx(expected)


@pytest.mark.parametrize("unit", [-0.1, -1e-12, 1.0, 1.5, math.nan, math.inf, -math.inf])
def test_unit_random_outside_unit_interval_is_refused(unit: float) -> None:
    with pytest.raises(ValueError):
        backoff_delay_s(3, unit)


# --- Retry-After -------------------------------------------------------------------

# 784111777 is Sun, 06 Nov 1994 08:49:37 GMT, the example date of RFC 9110.
NOW = 784_111_777.0 - 10.0


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        ("0", 0.0),
        (" 7 ", 7.0),
        ("86400", 86400.0),
        ("Sun, 06 Nov 1994 08:49:37 GMT", 10.0),  # IMF-fixdate
        ("Sunday, 06-Nov-94 08:49:37 GMT", 10.0),  # obsolete RFC 850 form
        ("Sun Nov  6 08:49:37 1994", 10.0),  # obsolete asctime form: no zone, read as UTC
        ("Sun, 06 Nov 1994 08:49:37 -0000", 10.0),  # "-0000" yields a naive datetime: still UTC
        ("Sun, 06 Nov 1994 10:49:37 +0200", 10.0),
        ("Sun, 06 Nov 1994 08:49:00 GMT", 0.0),  # in the past: no wait
    ],
)
def test_parse_retry_after(value: str, seconds: float) -> None:
    assert parse_retry_after(value, NOW) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        "-1",
        "+5",
        "1.5",
        "1e3",
        "abc",
        "²",
        "٣",
        "12 s",
        "Sun, 32 Nov 1994 08:49:37 GMT",
        "0x10",
    ],
)
def test_garbage_retry_after_is_ignored(value: str | None) -> None:
    assert parse_retry_after(value, NOW) is None
