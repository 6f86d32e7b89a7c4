"""A transparent credit scorecard: features → points → risk band → proposed offer.

Every feature falls in exactly one band of its table; each band adds (or takes) a fixed number of
points and names itself with a reason code, so an offer can always be explained line by line. The
score is ``BASE_POINTS`` plus the points of the five scored features; the risk band follows from
``BAND_FLOORS``; the offer terms follow from ``BAND_TERMS``. The tables below are the policy, and
``docs/credit-policy.md`` restates them: change both (and :data:`POLICY_VERSION`) together.

Offer rules, in order:

- bands D and E get no offer (``NO_OFFER_RISK_BAND``);
- the increase is the band's share of the current limit, then capped at
  ``OfferSettings.max_increase_cents`` (``INCREASE_CAPPED_ABSOLUTE``) and at what keeps the new
  limit within ``OfferSettings.max_limit_cents`` (``INCREASE_CAPPED_MAX_LIMIT``), then rounded down
  to ``OfferSettings.limit_step_cents``; an increase that rounds to nothing is no offer
  (``NO_OFFER_INCREASE_TOO_SMALL``), so a proposed limit is always above the current one;
- the rate is the band's rate, but never above the customer's current rate
  (``RATE_KEPT_AT_CURRENT``): a larger limit does not make the whole balance pricier;
- the offer expires ``OfferSettings.validity_days`` after ``now``.
"""

from __future__ import annotations

import enum
from typing import Final

import msgspec

from cloud.domain.credit.errors import (
    InconsistentPaymentCounts,
    InvalidNow,
    InvalidOfferSettings,
    MonthsOnBookOutOfRange,
    PaymentCountOutOfRange,
    PaymentsExceedTenure,
    UnknownIncomeBand,
    UtilisationOutOfRange,
)
from cloud.domain.credit.money import (
    BPS_PER_UNIT,
    MAX_CENTS,
    apply_bps,
    require_cents,
    require_int,
    require_rate_bps,
    round_down,
)

POLICY_VERSION: Final = "scorecard-2024.1"
"""Version of the scorecard tables and offer rules; carried by every proposal and its audit."""

DAY_MS: Final = 86_400_000
MAX_MONTHS_ON_BOOK: Final = 1200


class IncomeBand(enum.StrEnum):
    """Verified monthly net income, banded (the scorecard never sees the amount itself)."""

    LOW = "low"
    """Below 1 500.00 a month."""
    MEDIUM = "medium"
    """1 500.00 to 2 999.99 a month."""
    HIGH = "high"
    """3 000.00 to 5 999.99 a month."""
    VERY_HIGH = "very_high"
    """6 000.00 a month or more."""


class RiskBand(enum.StrEnum):
    """Risk band from the total score; A is the lowest risk."""

    A = "A"
    B = "B"
    C = "C"
    D = "D"
    E = "E"


class CreditFeatures(msgspec.Struct, frozen=True, kw_only=True):
    """The scorecard's inputs for one customer, as of the evaluation."""

    months_on_book: int
    """Whole months since the credit line was opened (0 .. 1200)."""
    utilisation_bps: int
    """Balance over limit in basis points (0 .. 10_000; over-limit counts as 10_000)."""
    on_time_payments_12m: int
    """Monthly payments made on time in the last 12 months (0 .. 12)."""
    missed_payments_12m: int
    """Monthly payments missed or late in the last 12 months (0 .. 12; with on-time at most 12)."""
    income_band: IncomeBand
    current_limit_cents: int
    """Current credit limit in cents (not scored; the base of the increase)."""
    current_rate_bps: int
    """Current annual rate in basis points (not scored; an offer never exceeds it)."""


class OfferSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The configurable limits of an offer (defaults are the policy's)."""

    validity_days: int = 14
    max_increase_cents: int = 500_000
    """Absolute cap on one increase: 5 000.00."""
    max_limit_cents: int = 5_000_000
    """No offer takes a limit above 50 000.00."""
    limit_step_cents: int = 5_000
    """Increases are whole multiples of 50.00."""


class ScoreLine(msgspec.Struct, frozen=True, kw_only=True):
    """One feature's contribution: its band (a reason code) and the points it adds."""

    feature: str
    reason_code: str
    points: int


class ScoreResult(msgspec.Struct, frozen=True, kw_only=True):
    """The total score, its risk band and the line per feature that produced it."""

    score: int
    risk_band: RiskBand
    lines: tuple[ScoreLine, ...]


class ProposedOffer(msgspec.Struct, frozen=True, kw_only=True):
    """A limit increase the scorecard proposes (before the guardrail)."""

    policy_version: str
    risk_band: RiskBand
    score: int
    current_limit_cents: int
    new_limit_cents: int
    rate_bps: int
    term_months: int
    expires_at: int
    """Unix epoch milliseconds."""
    reason_codes: tuple[str, ...]

    @property
    def increase_cents(self) -> int:
        """How much the offer raises the limit."""
        return self.new_limit_cents - self.current_limit_cents


class Evaluation(msgspec.Struct, frozen=True, kw_only=True):
    """The scorecard's answer: the score, and an offer or ``None`` with the reasons either way."""

    policy_version: str
    result: ScoreResult
    offer: ProposedOffer | None
    reason_codes: tuple[str, ...]


class BandTerms(msgspec.Struct, frozen=True, kw_only=True):
    """What a risk band is offered; ``increase_bps`` 0 means no offer."""

    increase_bps: int
    rate_bps: int
    term_months: int


BASE_POINTS: Final = 400

# Each table is (lowest value of the band, reason code, points), ascending by lowest value; a value
# falls in the last band whose lowest value it reaches.
MONTHS_ON_BOOK_BANDS: Final[tuple[tuple[int, str, int], ...]] = (
    (0, "MOB_LT_6", 0),
    (6, "MOB_6_11", 20),
    (12, "MOB_12_23", 40),
    (24, "MOB_24_59", 60),
    (60, "MOB_GE_60", 80),
)
UTILISATION_BANDS: Final[tuple[tuple[int, str, int], ...]] = (
    (0, "UTIL_LE_30", 80),
    (3_001, "UTIL_31_50", 50),
    (5_001, "UTIL_51_75", 20),
    (7_501, "UTIL_76_90", 0),
    (9_001, "UTIL_GT_90", -40),
)
ON_TIME_BANDS: Final[tuple[tuple[int, str, int], ...]] = (
    (0, "ONTIME_0_2", 0),
    (3, "ONTIME_3_5", 15),
    (6, "ONTIME_6_8", 30),
    (9, "ONTIME_9_11", 45),
    (12, "ONTIME_12", 60),
)
MISSED_BANDS: Final[tuple[tuple[int, str, int], ...]] = (
    (0, "MISSED_0", 40),
    (1, "MISSED_1", 0),
    (2, "MISSED_2", -40),
    (3, "MISSED_GE_3", -120),
)
INCOME_POINTS: Final[dict[IncomeBand, tuple[str, int]]] = {
    IncomeBand.LOW: ("INCOME_LOW", 0),
    IncomeBand.MEDIUM: ("INCOME_MEDIUM", 20),
    IncomeBand.HIGH: ("INCOME_HIGH", 40),
    IncomeBand.VERY_HIGH: ("INCOME_VERY_HIGH", 50),
}
BAND_FLOORS: Final[tuple[tuple[int, RiskBand], ...]] = (
    (640, RiskBand.A),
    (580, RiskBand.B),
    (520, RiskBand.C),
    (460, RiskBand.D),
)
"""A score at or above the floor is in that band; below the last floor is band E."""
BAND_TERMS: Final[dict[RiskBand, BandTerms]] = {
    RiskBand.A: BandTerms(increase_bps=5_000, rate_bps=1_290, term_months=12),
    RiskBand.B: BandTerms(increase_bps=3_000, rate_bps=1_590, term_months=12),
    RiskBand.C: BandTerms(increase_bps=1_500, rate_bps=1_990, term_months=6),
    RiskBand.D: BandTerms(increase_bps=0, rate_bps=0, term_months=0),
    RiskBand.E: BandTerms(increase_bps=0, rate_bps=0, term_months=0),
}

NO_OFFER_RISK_BAND: Final = "NO_OFFER_RISK_BAND"
NO_OFFER_AT_MAX_LIMIT: Final = "NO_OFFER_AT_MAX_LIMIT"
NO_OFFER_INCREASE_TOO_SMALL: Final = "NO_OFFER_INCREASE_TOO_SMALL"
INCREASE_CAPPED_ABSOLUTE: Final = "INCREASE_CAPPED_ABSOLUTE"
INCREASE_CAPPED_MAX_LIMIT: Final = "INCREASE_CAPPED_MAX_LIMIT"
RATE_KEPT_AT_CURRENT: Final = "RATE_KEPT_AT_CURRENT"


def _band(value: int, table: tuple[tuple[int, str, int], ...], feature: str) -> ScoreLine:
    line = table[0]
    for row in table:
        if value >= row[0]:
            line = row
    return ScoreLine(feature=feature, reason_code=line[1], points=line[2])


def _count(value: object, what: str) -> int:
    count = require_int(value, what)
    if not 0 <= count <= 12:
        raise PaymentCountOutOfRange(f"{what} must be in 0..12, got {count}")
    return count


def validate_features(features: CreditFeatures) -> CreditFeatures:
    """``features`` unchanged if every field is in range, else the named error of the first bad one.

    msgspec checks types only on decode, so a Struct built in code is checked here.
    """
    months = require_int(features.months_on_book, "months_on_book")
    if not 0 <= months <= MAX_MONTHS_ON_BOOK:
        raise MonthsOnBookOutOfRange(f"months_on_book must be in 0..{MAX_MONTHS_ON_BOOK}, got {months}")
    utilisation = require_int(features.utilisation_bps, "utilisation_bps")
    if not 0 <= utilisation <= BPS_PER_UNIT:
        raise UtilisationOutOfRange(f"utilisation_bps must be in 0..{BPS_PER_UNIT}, got {utilisation}")
    on_time = _count(features.on_time_payments_12m, "on_time_payments_12m")
    missed = _count(features.missed_payments_12m, "missed_payments_12m")
    if on_time + missed > 12:
        raise InconsistentPaymentCounts(f"on-time ({on_time}) plus missed ({missed}) payments exceed 12")
    if on_time + missed > months:
        raise PaymentsExceedTenure(f"{on_time + missed} payments reported for {months} months on book")
    try:
        IncomeBand(features.income_band)
    except ValueError:
        raise UnknownIncomeBand(f"unknown income band {features.income_band!r}") from None
    require_cents(features.current_limit_cents, "current_limit_cents")
    require_rate_bps(features.current_rate_bps, "current_rate_bps")
    return features


def validate_settings(settings: OfferSettings) -> OfferSettings:
    """``settings`` unchanged if in range, else :class:`InvalidOfferSettings`."""
    for name in ("validity_days", "max_increase_cents", "max_limit_cents", "limit_step_cents"):
        value = getattr(settings, name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidOfferSettings(f"{name} must be an integer, got {type(value).__name__}")
    if not 1 <= settings.validity_days <= 365:
        raise InvalidOfferSettings(f"validity_days must be in 1..365, got {settings.validity_days}")
    if not 1 <= settings.limit_step_cents <= settings.max_increase_cents <= MAX_CENTS:
        raise InvalidOfferSettings("need 1 <= limit_step_cents <= max_increase_cents <= MAX_CENTS")
    if not 0 <= settings.max_limit_cents <= MAX_CENTS:
        raise InvalidOfferSettings(f"max_limit_cents must be in 0..{MAX_CENTS}")
    return settings


def risk_band(total: int) -> RiskBand:
    """The risk band of a total score (:data:`BAND_FLOORS`)."""
    for floor, band in BAND_FLOORS:
        if total >= floor:
            return band
    return RiskBand.E


def score(features: CreditFeatures) -> ScoreResult:
    """The score of validated-here ``features``: one :class:`ScoreLine` per scored feature."""
    validate_features(features)
    income_code, income_points = INCOME_POINTS[IncomeBand(features.income_band)]
    lines = (
        _band(features.months_on_book, MONTHS_ON_BOOK_BANDS, "months_on_book"),
        _band(features.utilisation_bps, UTILISATION_BANDS, "utilisation_bps"),
        _band(features.on_time_payments_12m, ON_TIME_BANDS, "on_time_payments_12m"),
        _band(features.missed_payments_12m, MISSED_BANDS, "missed_payments_12m"),
        ScoreLine(feature="income_band", reason_code=income_code, points=income_points),
    )
    total = BASE_POINTS + sum(line.points for line in lines)
    return ScoreResult(score=total, risk_band=risk_band(total), lines=lines)


def evaluate(features: CreditFeatures, now: int, settings: OfferSettings | None = None) -> Evaluation:
    """Score ``features`` and propose an offer as of ``now`` (Unix epoch ms), or say why not.

    The reason codes are the feature bands, then ``RISK_BAND_<X>``, then the offer rules that
    applied (module docstring). Raises the named :class:`~cloud.domain.credit.errors.CreditInputError`
    of the first bad input.
    """
    if isinstance(now, bool) or not isinstance(now, int) or now < 0:
        raise InvalidNow(f"now must be non-negative integer epoch milliseconds, got {now!r}")
    settings = validate_settings(settings or OfferSettings())
    result = score(features)
    codes = [line.reason_code for line in result.lines]
    codes.append(f"RISK_BAND_{result.risk_band.value}")
    terms = BAND_TERMS[result.risk_band]
    current = features.current_limit_cents

    def no_offer(code: str) -> Evaluation:
        return Evaluation(
            policy_version=POLICY_VERSION, result=result, offer=None, reason_codes=(*codes, code)
        )

    if terms.increase_bps == 0:
        return no_offer(NO_OFFER_RISK_BAND)
    if current >= settings.max_limit_cents:
        return no_offer(NO_OFFER_AT_MAX_LIMIT)
    increase = apply_bps(current, terms.increase_bps)
    if increase > settings.max_increase_cents:
        increase = settings.max_increase_cents
        codes.append(INCREASE_CAPPED_ABSOLUTE)
    if current + increase > settings.max_limit_cents:
        increase = settings.max_limit_cents - current
        codes.append(INCREASE_CAPPED_MAX_LIMIT)
    increase = round_down(increase, settings.limit_step_cents)
    if increase <= 0:
        return no_offer(NO_OFFER_INCREASE_TOO_SMALL)
    rate = terms.rate_bps
    if features.current_rate_bps < rate:
        rate = features.current_rate_bps
        codes.append(RATE_KEPT_AT_CURRENT)
    offer = ProposedOffer(
        policy_version=POLICY_VERSION,
        risk_band=result.risk_band,
        score=result.score,
        current_limit_cents=current,
        new_limit_cents=current + increase,
        rate_bps=rate,
        term_months=terms.term_months,
        expires_at=now + settings.validity_days * DAY_MS,
        reason_codes=tuple(codes),
    )
    return Evaluation(policy_version=POLICY_VERSION, result=result, offer=offer, reason_codes=tuple(codes))
