"""The scorecard on hand-computed cases, its band edges and caps, and every validation refusal."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from cloud.domain.credit.errors import (
    AmountTooLarge,
    CreditInputError,
    FloatMoney,
    InconsistentPaymentCounts,
    InvalidNow,
    InvalidOfferSettings,
    MonthsOnBookOutOfRange,
    NegativeAmount,
    NotAnInteger,
    PaymentCountOutOfRange,
    PaymentsExceedTenure,
    RateOutOfRange,
    UnknownIncomeBand,
    UtilisationOutOfRange,
)
from cloud.domain.credit.money import MAX_CENTS
from cloud.domain.credit.scorecard import (
    DAY_MS,
    POLICY_VERSION,
    CreditFeatures,
    IncomeBand,
    OfferSettings,
    RiskBand,
    evaluate,
    risk_band,
    score,
)

NOW = 1_700_000_000_000

# 400 + MOB_GE_60 80 + UTIL_LE_30 80 + ONTIME_12 60 + MISSED_0 40 + INCOME_HIGH 40 = 700 -> A
PRIME = CreditFeatures(
    months_on_book=72,
    utilisation_bps=2_500,
    on_time_payments_12m=12,
    missed_payments_12m=0,
    income_band=IncomeBand.HIGH,
    current_limit_cents=400_000,
    current_rate_bps=1_990,
)
PRIME_CODES = ("MOB_GE_60", "UTIL_LE_30", "ONTIME_12", "MISSED_0", "INCOME_HIGH", "RISK_BAND_A")


def _features(**changes: Any) -> CreditFeatures:
    return msgspec.structs.replace(PRIME, **changes)


def test_prime_customer_gets_half_again_at_the_band_a_rate() -> None:
    evaluation = evaluate(PRIME, NOW)
    assert evaluation.result.score == 700
    assert evaluation.result.risk_band is RiskBand.A
    assert [line.points for line in evaluation.result.lines] == [80, 80, 60, 40, 40]
    offer = evaluation.offer
    assert offer is not None
    assert offer.policy_version == POLICY_VERSION == evaluation.policy_version
    assert (offer.current_limit_cents, offer.new_limit_cents) == (400_000, 600_000)
    assert (offer.rate_bps, offer.term_months) == (1_290, 12)
    assert offer.expires_at == NOW + 14 * DAY_MS
    assert offer.reason_codes == PRIME_CODES == evaluation.reason_codes
    assert offer.increase_cents == 200_000


@pytest.mark.parametrize(
    ("changes", "score_", "band", "new_limit", "rate", "term", "codes"),
    [
        # 400 + 40 + 50 + 45 + 40 + 20 = 595 -> B: +30 %, band rate 1590 above current 1490.
        (
            dict(
                months_on_book=18,
                utilisation_bps=4_000,
                on_time_payments_12m=9,
                income_band=IncomeBand.MEDIUM,
                current_limit_cents=250_000,
                current_rate_bps=1_490,
            ),
            595,
            RiskBand.B,
            325_000,
            1_490,
            12,
            (
                "MOB_12_23",
                "UTIL_31_50",
                "ONTIME_9_11",
                "MISSED_0",
                "INCOME_MEDIUM",
                "RISK_BAND_B",
                "RATE_KEPT_AT_CURRENT",
            ),
        ),
        # 400 + 40 + 20 + 45 + 0 + 20 = 525 -> C: 15 % of 123_456 = 18_518, down to 15_000.
        (
            dict(
                months_on_book=12,
                utilisation_bps=6_000,
                on_time_payments_12m=11,
                missed_payments_12m=1,
                income_band=IncomeBand.MEDIUM,
                current_limit_cents=123_456,
                current_rate_bps=2_490,
            ),
            525,
            RiskBand.C,
            138_456,
            1_990,
            6,
            ("MOB_12_23", "UTIL_51_75", "ONTIME_9_11", "MISSED_1", "INCOME_MEDIUM", "RISK_BAND_C"),
        ),
        # A at 2_000_000: 50 % = 1_000_000, capped at 500_000.
        (
            dict(current_limit_cents=2_000_000),
            700,
            RiskBand.A,
            2_500_000,
            1_290,
            12,
            (*PRIME_CODES, "INCREASE_CAPPED_ABSOLUTE"),
        ),
        # A at 4_800_000: capped at 500_000, then at the 5_000_000 policy maximum.
        (
            dict(current_limit_cents=4_800_000),
            700,
            RiskBand.A,
            5_000_000,
            1_290,
            12,
            (*PRIME_CODES, "INCREASE_CAPPED_ABSOLUTE", "INCREASE_CAPPED_MAX_LIMIT"),
        ),
    ],
)
def test_offers_on_hand_computed_cases(
    changes: dict[str, Any],
    score_: int,
    band: RiskBand,
    new_limit: int,
    rate: int,
    term: int,
    codes: tuple[str, ...],
) -> None:
    features = _features(**changes)
    evaluation = evaluate(features, NOW)
    assert (evaluation.result.score, evaluation.result.risk_band) == (score_, band)
    offer = evaluation.offer
    assert offer is not None
    assert (offer.new_limit_cents, offer.rate_bps, offer.term_months) == (new_limit, rate, term)
    assert offer.reason_codes == codes
    assert offer.new_limit_cents > features.current_limit_cents


@pytest.mark.parametrize(
    ("changes", "score_", "codes"),
    [
        # 400 + 0 + 20 + 15 + 40 + 0 = 475 -> D
        (
            dict(
                months_on_book=3,
                utilisation_bps=6_000,
                on_time_payments_12m=3,
                income_band=IncomeBand.LOW,
            ),
            475,
            (
                "MOB_LT_6",
                "UTIL_51_75",
                "ONTIME_3_5",
                "MISSED_0",
                "INCOME_LOW",
                "RISK_BAND_D",
                "NO_OFFER_RISK_BAND",
            ),
        ),
        # 400 + 60 - 40 + 30 - 120 + 50 = 380 -> E
        (
            dict(
                months_on_book=30,
                utilisation_bps=9_500,
                on_time_payments_12m=6,
                missed_payments_12m=3,
                income_band=IncomeBand.VERY_HIGH,
            ),
            380,
            (
                "MOB_24_59",
                "UTIL_GT_90",
                "ONTIME_6_8",
                "MISSED_GE_3",
                "INCOME_VERY_HIGH",
                "RISK_BAND_E",
                "NO_OFFER_RISK_BAND",
            ),
        ),
        (dict(current_limit_cents=5_000_000), 700, (*PRIME_CODES, "NO_OFFER_AT_MAX_LIMIT")),
        (dict(current_limit_cents=9_000), 700, (*PRIME_CODES, "NO_OFFER_INCREASE_TOO_SMALL")),
        (dict(current_limit_cents=0), 700, (*PRIME_CODES, "NO_OFFER_INCREASE_TOO_SMALL")),
    ],
)
def test_no_offer_cases_say_why(changes: dict[str, Any], score_: int, codes: tuple[str, ...]) -> None:
    evaluation = evaluate(_features(**changes), NOW)
    assert evaluation.offer is None
    assert evaluation.result.score == score_
    assert evaluation.reason_codes == codes


@pytest.mark.parametrize(
    ("total", "band"),
    [
        (710, RiskBand.A),
        (640, RiskBand.A),
        (639, RiskBand.B),
        (580, RiskBand.B),
        (579, RiskBand.C),
        (520, RiskBand.C),
        (519, RiskBand.D),
        (460, RiskBand.D),
        (459, RiskBand.E),
        (240, RiskBand.E),
    ],
)
def test_risk_band_floors(total: int, band: RiskBand) -> None:
    assert risk_band(total) is band


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("utilisation_bps", 0, "UTIL_LE_30"),
        ("utilisation_bps", 3_000, "UTIL_LE_30"),
        ("utilisation_bps", 3_001, "UTIL_31_50"),
        ("utilisation_bps", 5_000, "UTIL_31_50"),
        ("utilisation_bps", 5_001, "UTIL_51_75"),
        ("utilisation_bps", 7_501, "UTIL_76_90"),
        ("utilisation_bps", 9_000, "UTIL_76_90"),
        ("utilisation_bps", 9_001, "UTIL_GT_90"),
        ("utilisation_bps", 10_000, "UTIL_GT_90"),
        ("months_on_book", 12, "MOB_12_23"),
        ("months_on_book", 23, "MOB_12_23"),
        ("months_on_book", 24, "MOB_24_59"),
        ("months_on_book", 59, "MOB_24_59"),
        ("months_on_book", 1_200, "MOB_GE_60"),
        ("missed_payments_12m", 0, "MISSED_0"),
        ("on_time_payments_12m", 0, "ONTIME_0_2"),
        ("on_time_payments_12m", 8, "ONTIME_6_8"),
    ],
)
def test_feature_band_edges(field: str, value: int, code: str) -> None:
    lines = {line.feature: line.reason_code for line in score(_features(**{field: value})).lines}
    assert lines[field] == code


def test_band_reason_codes_follow_small_tenure() -> None:
    lines = score(_features(months_on_book=5, on_time_payments_12m=5)).lines
    assert [line.reason_code for line in lines][:3] == ["MOB_LT_6", "UTIL_LE_30", "ONTIME_3_5"]
    lines = score(_features(months_on_book=6, on_time_payments_12m=6)).lines
    assert [line.reason_code for line in lines][:3] == ["MOB_6_11", "UTIL_LE_30", "ONTIME_6_8"]


def test_offer_settings_change_expiry_and_caps() -> None:
    settings = OfferSettings(validity_days=3, max_increase_cents=100_000, limit_step_cents=10_000)
    offer = evaluate(PRIME, NOW, settings).offer
    assert offer is not None
    assert offer.expires_at == NOW + 3 * DAY_MS
    assert offer.new_limit_cents == 500_000
    assert "INCREASE_CAPPED_ABSOLUTE" in offer.reason_codes


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        (dict(current_limit_cents=-1), NegativeAmount),
        (dict(current_limit_cents=MAX_CENTS + 1), AmountTooLarge),
        (dict(current_limit_cents=4000.0), FloatMoney),
        (dict(current_limit_cents="4000"), NotAnInteger),
        (dict(current_rate_bps=-1), RateOutOfRange),
        (dict(current_rate_bps=100_001), RateOutOfRange),
        (dict(current_rate_bps=12.9), FloatMoney),
        (dict(utilisation_bps=-1), UtilisationOutOfRange),
        (dict(utilisation_bps=10_001), UtilisationOutOfRange),
        (dict(utilisation_bps=0.5), FloatMoney),
        (dict(months_on_book=-1), MonthsOnBookOutOfRange),
        (dict(months_on_book=1_201), MonthsOnBookOutOfRange),
        (dict(months_on_book=True), NotAnInteger),
        (dict(on_time_payments_12m=13), PaymentCountOutOfRange),
        (dict(on_time_payments_12m=-1), PaymentCountOutOfRange),
        (dict(missed_payments_12m=13, on_time_payments_12m=0), PaymentCountOutOfRange),
        (dict(missed_payments_12m=-1), PaymentCountOutOfRange),
        (dict(on_time_payments_12m=8, missed_payments_12m=5), InconsistentPaymentCounts),
        (dict(months_on_book=3, on_time_payments_12m=4), PaymentsExceedTenure),
        (dict(income_band="rich"), UnknownIncomeBand),
    ],
)
def test_every_feature_refusal(changes: dict[str, Any], error: type[CreditInputError]) -> None:
    with pytest.raises(error):
        evaluate(_features(**changes), NOW)


@pytest.mark.parametrize("now", [-1, 1.5, True, "0"])
def test_now_refusal(now: Any) -> None:
    with pytest.raises(InvalidNow):
        evaluate(PRIME, now)


@pytest.mark.parametrize(
    "settings",
    [
        OfferSettings(validity_days=0),
        OfferSettings(validity_days=366),
        OfferSettings(validity_days=7.0),  # type: ignore[arg-type]
        OfferSettings(limit_step_cents=0),
        OfferSettings(limit_step_cents=600_000),
        OfferSettings(max_increase_cents=MAX_CENTS + 1),
        OfferSettings(max_limit_cents=-1),
        OfferSettings(max_limit_cents=MAX_CENTS + 1),
    ],
)
def test_offer_settings_refusal(settings: OfferSettings) -> None:
    with pytest.raises(InvalidOfferSettings):
        evaluate(PRIME, NOW, settings)


def test_income_band_accepts_its_wire_string() -> None:
    assert evaluate(_features(income_band="high"), NOW).result.score == 700
