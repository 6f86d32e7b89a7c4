"""Integer cents and basis points: the only arithmetic money goes through.

Money is integer minor units (cents) and rates are basis points (1 bps = 0.01 %), never floats
(DESIGN §7). Every helper refuses a float with :class:`FloatMoney` rather than rounding it: a float
amount is a bug upstream, and silently rounding it would hide that bug in a customer's balance.
Every rounding here is *down*, so a computed increase is never larger than the policy allows.
"""

from __future__ import annotations

from typing import Final

from cloud.domain.credit.errors import (
    AmountTooLarge,
    FloatMoney,
    NegativeAmount,
    NotAnInteger,
    RateOutOfRange,
)

MAX_CENTS: Final = 10**12
"""Largest amount in cents; the same bound as ``sync.messages.Cents`` on the wire."""
BPS_PER_UNIT: Final = 10_000
"""Basis points in 100 %."""
MAX_RATE_BPS: Final = 100_000
"""Largest rate in basis points (1000 %); the same bound as ``sync.messages.Bps`` on the wire."""


def require_int(value: object, what: str) -> int:
    """``value`` as an ``int``; :class:`FloatMoney` for a float, :class:`NotAnInteger` otherwise.

    ``bool`` is refused although it is an ``int`` subclass: ``True`` is never a meant amount.
    """
    if isinstance(value, float):
        raise FloatMoney(f"{what} must be an integer, got the float {value!r}")
    if isinstance(value, bool) or not isinstance(value, int):
        raise NotAnInteger(f"{what} must be an integer, got {type(value).__name__}")
    return value


def require_cents(value: object, what: str) -> int:
    """``value`` checked as an amount of money in cents: an ``int`` in ``0 .. MAX_CENTS``."""
    amount = require_int(value, what)
    if amount < 0:
        raise NegativeAmount(f"{what} must not be negative, got {amount}")
    if amount > MAX_CENTS:
        raise AmountTooLarge(f"{what} must be at most {MAX_CENTS} cents, got {amount}")
    return amount


def require_rate_bps(value: object, what: str) -> int:
    """``value`` checked as a rate in basis points: an ``int`` in ``0 .. MAX_RATE_BPS``."""
    rate = require_int(value, what)
    if not 0 <= rate <= MAX_RATE_BPS:
        raise RateOutOfRange(f"{what} must be in 0..{MAX_RATE_BPS} bps, got {rate}")
    return rate


def apply_bps(amount_cents: int, bps: int) -> int:
    """``amount_cents * bps / 10_000`` rounded down, in exact integer arithmetic."""
    cents = require_cents(amount_cents, "amount")
    share = require_rate_bps(bps, "share")
    return cents * share // BPS_PER_UNIT


def round_down(amount_cents: int, step_cents: int) -> int:
    """``amount_cents`` rounded down to a whole multiple of ``step_cents`` (a step of 0 or 1 is a no-op)."""
    cents = require_cents(amount_cents, "amount")
    step = require_cents(step_cents, "step")
    if step <= 1:
        return cents
    return cents - cents % step


def ratio_bps(part_cents: int, whole_cents: int) -> int:
    """``part / whole`` in basis points, rounded down and capped at 10_000 (utilisation from a balance).

    An over-limit balance counts as fully used; with no limit at all, a zero balance is 0 % used and
    any balance is 100 % used.
    """
    part = require_cents(part_cents, "part")
    whole = require_cents(whole_cents, "whole")
    if whole == 0:
        return 0 if part == 0 else BPS_PER_UNIT
    return min(BPS_PER_UNIT, part * BPS_PER_UNIT // whole)
