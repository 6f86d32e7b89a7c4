"""One named exception per kind of bad input to the credit functions.

They derive from ``ValueError`` (bad arguments), not from :class:`cloud.errors.ApiError`: the
credit functions are pure, and the admin endpoints that will call them map these to problems.
"""

from __future__ import annotations


class CreditInputError(ValueError):
    """Base of every bad-input error of :mod:`cloud.domain.credit`."""


class FloatMoney(CreditInputError):
    """An amount of money or a rate was given as a float; money is integer cents, rates are bps."""


class NotAnInteger(CreditInputError):
    """An amount, rate or count is not an ``int`` (``bool``, ``str``, ``Decimal`` ... are refused)."""


class NegativeAmount(CreditInputError):
    """An amount of money (a limit, an increase cap) is below zero."""


class AmountTooLarge(CreditInputError):
    """An amount of money is above :data:`cloud.domain.credit.money.MAX_CENTS`."""


class RateOutOfRange(CreditInputError):
    """A rate in basis points is below zero or above :data:`cloud.domain.credit.money.MAX_RATE_BPS`."""


class UtilisationOutOfRange(CreditInputError):
    """Utilisation in basis points is outside ``0 .. 10_000`` (over-limit balances count as 10_000)."""


class MonthsOnBookOutOfRange(CreditInputError):
    """Months on book is below zero or above 1200."""


class PaymentCountOutOfRange(CreditInputError):
    """An on-time or missed payment count over the last 12 months is outside ``0 .. 12``."""


class InconsistentPaymentCounts(CreditInputError):
    """On-time plus missed payments over the last 12 months exceed 12."""


class PaymentsExceedTenure(CreditInputError):
    """More payments are reported in the last 12 months than the account has been open."""


class UnknownIncomeBand(CreditInputError):
    """The income band is not one of :class:`cloud.domain.credit.scorecard.IncomeBand`."""


class InvalidNow(CreditInputError):
    """``now`` is not a non-negative integer of Unix epoch milliseconds."""


class InvalidOfferSettings(CreditInputError):
    """Offer settings are out of range (validity days, caps, step)."""


class InvalidGuardrailConfig(CreditInputError):
    """Guardrail thresholds are not in (0, 1), the minimum days is negative, or the withhold
    threshold is below the act threshold."""


class InvalidStressEstimate(CreditInputError):
    """A stress estimate has a non-finite or out-of-[0, 1] probability, ``lower > upper`` or a
    negative day count."""
