"""Integer cents and basis points: exact arithmetic, rounding down, and every refusal."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cloud.domain.credit.errors import (
    AmountTooLarge,
    CreditInputError,
    FloatMoney,
    NegativeAmount,
    NotAnInteger,
    RateOutOfRange,
)
from cloud.domain.credit.money import (
    MAX_CENTS,
    MAX_RATE_BPS,
    apply_bps,
    ratio_bps,
    require_cents,
    require_rate_bps,
    round_down,
)


@pytest.mark.parametrize(
    ("amount", "bps", "expected"),
    [
        (400_000, 5_000, 200_000),
        (123_456, 1_500, 18_518),  # 18_518.4 rounds down
        (1, 9_999, 0),
        (0, 5_000, 0),
        (MAX_CENTS, 10_000, MAX_CENTS),
        (99, 10_000, 99),
    ],
)
def test_apply_bps_is_exact_and_rounds_down(amount: int, bps: int, expected: int) -> None:
    assert apply_bps(amount, bps) == expected


@pytest.mark.parametrize(
    ("amount", "step", "expected"),
    [(18_518, 5_000, 15_000), (5_000, 5_000, 5_000), (4_999, 5_000, 0), (7, 0, 7), (7, 1, 7)],
)
def test_round_down(amount: int, step: int, expected: int) -> None:
    assert round_down(amount, step) == expected


@pytest.mark.parametrize(
    ("part", "whole", "expected"),
    [(2_500, 10_000, 2_500), (1, 3, 3_333), (15_000, 10_000, 10_000), (0, 0, 0), (1, 0, 10_000)],
)
def test_ratio_bps_caps_over_limit_and_handles_no_limit(part: int, whole: int, expected: int) -> None:
    assert ratio_bps(part, whole) == expected


def test_valid_amounts_and_rates_pass_through() -> None:
    assert require_cents(0, "x") == 0
    assert require_cents(MAX_CENTS, "x") == MAX_CENTS
    assert require_rate_bps(MAX_RATE_BPS, "x") == MAX_RATE_BPS


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (10.0, FloatMoney),
        (0.1, FloatMoney),
        (True, NotAnInteger),
        ("100", NotAnInteger),
        (Decimal("1"), NotAnInteger),
        (None, NotAnInteger),
        (-1, NegativeAmount),
        (MAX_CENTS + 1, AmountTooLarge),
    ],
)
def test_require_cents_refusals(value: object, error: type[CreditInputError]) -> None:
    with pytest.raises(error):
        require_cents(value, "limit")


@pytest.mark.parametrize(
    ("value", "error"),
    [(12.9, FloatMoney), (False, NotAnInteger), (-1, RateOutOfRange), (MAX_RATE_BPS + 1, RateOutOfRange)],
)
def test_require_rate_refusals(value: object, error: type[CreditInputError]) -> None:
    with pytest.raises(error):
        require_rate_bps(value, "rate")


def test_helpers_refuse_floats() -> None:
    with pytest.raises(FloatMoney):
        apply_bps(100.0, 5_000)  # type: ignore[arg-type]
    with pytest.raises(FloatMoney):
        apply_bps(100, 50.0)  # type: ignore[arg-type]
    with pytest.raises(FloatMoney):
        round_down(100.5, 10)  # type: ignore[arg-type]
    with pytest.raises(FloatMoney):
        ratio_bps(1.0, 10)  # type: ignore[arg-type]


def test_credit_errors_are_value_errors() -> None:
    assert issubclass(CreditInputError, ValueError)
