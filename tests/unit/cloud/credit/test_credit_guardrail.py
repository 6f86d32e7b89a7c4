"""The empathic guardrail: when it acts and how, its refusals, notices, and the "never worse" property."""

from __future__ import annotations

import itertools
import math
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.domain.analytics.signal import StressEstimate
from cloud.domain.credit.errors import InvalidGuardrailConfig, InvalidStressEstimate
from cloud.domain.credit.guardrail import (
    GuardedOffer,
    GuardrailConfig,
    apply_guardrail,
)
from cloud.domain.credit.notices import NoticeClass, NoticeKind, may_defer, notice_class
from cloud.domain.credit.scorecard import CreditFeatures, IncomeBand, OfferSettings, ProposedOffer, evaluate

NOW = 1_700_000_000_000
PRIME = CreditFeatures(
    months_on_book=72,
    utilisation_bps=2_500,
    on_time_payments_12m=12,
    missed_payments_12m=0,
    income_band=IncomeBand.HIGH,
    current_limit_cents=400_000,
    current_rate_bps=1_990,
)


def _proposed() -> ProposedOffer:
    offer = evaluate(PRIME, NOW).offer
    assert offer is not None
    return offer


def _estimate(mean: float, n_days: int = 30, width: float = 0.4, recent: float = 0.5) -> StressEstimate:
    lower = max(0.0, mean - width / 2)
    return StressEstimate(
        posterior_mean=mean,
        lower=lower,
        upper=min(1.0, lower + width),
        n_days=n_days,
        prob_recent_high=recent,
    )


@pytest.mark.parametrize(
    ("estimate", "code"),
    [
        (None, "GUARDRAIL_NO_SIGNAL"),
        (_estimate(0.9, n_days=6), "GUARDRAIL_TOO_FEW_DAYS"),
        (_estimate(0.9, n_days=0), "GUARDRAIL_TOO_FEW_DAYS"),
        (_estimate(0.6, width=0.71), "GUARDRAIL_INTERVAL_TOO_WIDE"),
        (_estimate(0.35), "GUARDRAIL_BELOW_THRESHOLD"),  # at the threshold is not above it
        (_estimate(0.1), "GUARDRAIL_BELOW_THRESHOLD"),
        # One noisy high report does not move the guardrail: it reads the posterior mean.
        (_estimate(0.2, recent=0.99), "GUARDRAIL_BELOW_THRESHOLD"),
    ],
)
def test_guardrail_does_nothing_without_a_trustworthy_high_signal(
    estimate: StressEstimate | None, code: str
) -> None:
    proposed = _proposed()
    guarded = apply_guardrail(proposed, estimate)
    assert guarded.reason_codes == (code,)
    assert guarded.defer_promotional is False
    assert guarded.proposed == proposed
    assert guarded.offer is not None
    assert msgspec.structs.replace(guarded.offer, reason_codes=proposed.reason_codes) == proposed
    assert guarded.offer.reason_codes == (*proposed.reason_codes, code)


def test_guardrail_halves_the_increase_above_the_threshold() -> None:
    proposed = _proposed()
    guarded = apply_guardrail(proposed, _estimate(0.45))
    assert guarded.reason_codes == ("GUARDRAIL_INCREASE_LOWERED", "GUARDRAIL_PROMO_DEFERRED")
    assert guarded.defer_promotional is True
    assert guarded.offer is not None
    assert guarded.offer.new_limit_cents == 500_000  # 400_000 + half of 200_000
    assert (guarded.offer.rate_bps, guarded.offer.term_months) == (proposed.rate_bps, proposed.term_months)
    assert guarded.offer.expires_at == proposed.expires_at
    assert guarded.offer.reason_codes[-2:] == guarded.reason_codes


def test_lowered_increase_is_rounded_down_to_the_step() -> None:
    # B band offer on 250_000 is +75_000; half is 37_500, down to 35_000 with the 5_000 step.
    features = msgspec.structs.replace(
        PRIME, months_on_book=18, utilisation_bps=4_000, on_time_payments_12m=9,
        income_band=IncomeBand.MEDIUM, current_limit_cents=250_000,
    )  # fmt: skip
    proposed = evaluate(features, NOW).offer
    assert proposed is not None and proposed.increase_cents == 75_000
    guarded = apply_guardrail(proposed, _estimate(0.5))
    assert guarded.offer is not None
    assert guarded.offer.new_limit_cents == 285_000


def test_guardrail_withholds_above_the_withhold_threshold() -> None:
    guarded = apply_guardrail(_proposed(), _estimate(0.6))
    assert guarded.offer is None
    assert guarded.defer_promotional is True
    assert guarded.reason_codes == ("GUARDRAIL_OFFER_WITHHELD", "GUARDRAIL_PROMO_DEFERRED")


def test_guardrail_withholds_when_the_lowered_increase_rounds_to_nothing() -> None:
    proposed = msgspec.structs.replace(_proposed(), new_limit_cents=405_000)  # +5_000: half is below a step
    guarded = apply_guardrail(proposed, _estimate(0.45))
    assert guarded.offer is None
    assert guarded.reason_codes == ("GUARDRAIL_OFFER_WITHHELD", "GUARDRAIL_PROMO_DEFERRED")


def test_guardrail_with_no_proposal_still_defers_promotions_when_stress_is_high() -> None:
    guarded = apply_guardrail(None, _estimate(0.9))
    assert guarded == GuardedOffer(
        proposed=None,
        offer=None,
        defer_promotional=True,
        reason_codes=("GUARDRAIL_NO_OFFER", "GUARDRAIL_PROMO_DEFERRED"),
    )
    calm = apply_guardrail(None, None)
    assert (calm.offer, calm.defer_promotional, calm.reason_codes) == (None, False, ("GUARDRAIL_NO_SIGNAL",))


def test_configured_thresholds_are_honoured() -> None:
    config = GuardrailConfig(act_threshold=0.2, withhold_threshold=0.9, min_days=3, max_interval_width=0.9)
    guarded = apply_guardrail(_proposed(), _estimate(0.3, n_days=3, width=0.8), config)
    assert guarded.reason_codes[0] == "GUARDRAIL_INCREASE_LOWERED"
    keep_all = GuardrailConfig(keep_increase_bps=10_000)
    kept = apply_guardrail(_proposed(), _estimate(0.45), keep_all)
    assert kept.offer is not None and kept.offer.new_limit_cents == _proposed().new_limit_cents


@pytest.mark.parametrize(
    "config",
    [
        GuardrailConfig(act_threshold=0.0),
        GuardrailConfig(act_threshold=1.0, withhold_threshold=1.0),
        GuardrailConfig(act_threshold=math.nan),
        GuardrailConfig(act_threshold=0.6, withhold_threshold=0.5),
        GuardrailConfig(max_interval_width=0.0),
        GuardrailConfig(min_days=-1),
        GuardrailConfig(min_days=7.0),  # type: ignore[arg-type]
        GuardrailConfig(keep_increase_bps=10_001),
        GuardrailConfig(keep_increase_bps=-1),
    ],
)
def test_guardrail_config_refusals(config: GuardrailConfig) -> None:
    with pytest.raises(InvalidGuardrailConfig):
        apply_guardrail(_proposed(), None, config)


@pytest.mark.parametrize(
    "changes",
    [
        dict(posterior_mean=math.nan),
        dict(posterior_mean=1.5, upper=1.6),
        dict(lower=0.5, posterior_mean=0.4),
        dict(upper=0.3, posterior_mean=0.4),
        dict(prob_recent_high=2.0),
        dict(prob_recent_high=math.inf),
        dict(n_days=-1),
        dict(n_days=3.0),
        dict(lower=True),
    ],
)
def test_stress_estimate_refusals(changes: dict[str, Any]) -> None:
    estimate = msgspec.structs.replace(_estimate(0.4), **changes)
    with pytest.raises(InvalidStressEstimate):
        apply_guardrail(_proposed(), estimate)


@pytest.mark.parametrize(
    ("kind", "cls"),
    [
        (NoticeKind.LIMIT_APPLIED, NoticeClass.TRANSACTIONAL),
        (NoticeKind.ACCEPTANCE_FAILED, NoticeClass.TRANSACTIONAL),
        (NoticeKind.OFFER_AVAILABLE, NoticeClass.PROMOTIONAL),
        (NoticeKind.OFFER_REMINDER, NoticeClass.PROMOTIONAL),
        ("limit_applied", NoticeClass.TRANSACTIONAL),
        ("offer_available", NoticeClass.PROMOTIONAL),
        ("maintenance", NoticeClass.TRANSACTIONAL),  # unknown kinds are never held back
    ],
)
def test_notice_classes(kind: str, cls: NoticeClass) -> None:
    assert notice_class(kind) is cls
    assert may_defer(kind, defer_promotional=False) is False
    assert may_defer(kind, defer_promotional=True) is (cls is NoticeClass.PROMOTIONAL)


def _assert_never_worse(proposed: ProposedOffer | None, guarded: GuardedOffer, current: int) -> None:
    assert guarded.proposed == proposed
    assert guarded.reason_codes and all(code.startswith("GUARDRAIL_") for code in guarded.reason_codes)
    for kind in (NoticeKind.LIMIT_APPLIED, NoticeKind.ACCEPTANCE_FAILED):
        assert not may_defer(kind, guarded.defer_promotional)
    if proposed is None:
        assert guarded.offer is None
        return
    assert proposed.new_limit_cents > current
    offer = guarded.offer
    if offer is None:
        assert "GUARDRAIL_OFFER_WITHHELD" in guarded.reason_codes
        return
    assert offer.rate_bps <= proposed.rate_bps
    assert current <= offer.new_limit_cents <= proposed.new_limit_cents
    assert offer.current_limit_cents == current
    assert (offer.term_months, offer.expires_at) == (proposed.term_months, proposed.expires_at)
    assert offer.reason_codes == (*proposed.reason_codes, *guarded.reason_codes)


GRID_FEATURES = [
    CreditFeatures(
        months_on_book=months,
        utilisation_bps=util,
        on_time_payments_12m=on_time,
        missed_payments_12m=missed,
        income_band=income,
        current_limit_cents=limit,
        current_rate_bps=rate,
    )
    for months, util, (on_time, missed), income, limit, rate in itertools.product(
        (2, 12, 72),
        (0, 5_000, 9_500),
        ((0, 0), (12, 0), (9, 3)),
        (IncomeBand.LOW, IncomeBand.VERY_HIGH),
        (0, 9_000, 400_000, 4_900_000, 5_000_000),
        (0, 1_490, 3_000),
    )
    if on_time + missed <= months
]
GRID_ESTIMATES: list[StressEstimate | None] = [
    None,
    *(
        _estimate(mean, n_days=days, width=width)
        for mean, days, width in itertools.product((0.0, 0.35, 0.36, 0.55, 0.56, 1.0), (0, 7), (0.2, 0.8))
    ),
]


def test_never_worse_over_a_grid() -> None:
    offers = 0
    for features, estimate in itertools.product(GRID_FEATURES, GRID_ESTIMATES):
        proposed = evaluate(features, NOW).offer
        offers += proposed is not None
        _assert_never_worse(proposed, apply_guardrail(proposed, estimate), features.current_limit_cents)
    assert offers > 0  # the grid reaches offers, not only refusals


@st.composite
def _features(draw: st.DrawFn) -> CreditFeatures:
    months = draw(st.integers(0, 1_200))
    on_time = draw(st.integers(0, min(12, months)))
    missed = draw(st.integers(0, min(12, months) - on_time))
    return CreditFeatures(
        months_on_book=months,
        utilisation_bps=draw(st.integers(0, 10_000)),
        on_time_payments_12m=on_time,
        missed_payments_12m=missed,
        income_band=draw(st.sampled_from(IncomeBand)),
        current_limit_cents=draw(st.integers(0, 10_000_000)),
        current_rate_bps=draw(st.integers(0, 100_000)),
    )


@st.composite
def _estimates(draw: st.DrawFn) -> StressEstimate | None:
    if draw(st.booleans()) and draw(st.booleans()):
        return None
    unit = st.floats(0.0, 1.0)
    lower, mean, upper = sorted(draw(st.tuples(unit, unit, unit)))
    return StressEstimate(
        posterior_mean=mean, lower=lower, upper=upper, n_days=draw(st.integers(0, 60)),
        prob_recent_high=draw(unit),
    )  # fmt: skip


@st.composite
def _configs(draw: st.DrawFn) -> GuardrailConfig:
    act = draw(st.floats(0.01, 0.98))
    return GuardrailConfig(
        act_threshold=act,
        withhold_threshold=draw(st.floats(act, 0.99)),
        min_days=draw(st.integers(0, 30)),
        max_interval_width=draw(st.floats(0.01, 0.99)),
        keep_increase_bps=draw(st.integers(0, 10_000)),
    )


@settings(max_examples=400, derandomize=True, deadline=None)
@given(features=_features(), estimate=_estimates(), config=_configs(), step=st.integers(1, 100_000))
def test_never_worse_for_random_inputs(
    features: CreditFeatures, estimate: StressEstimate | None, config: GuardrailConfig, step: int
) -> None:
    offer_settings = OfferSettings(limit_step_cents=step, max_increase_cents=max(step, 500_000))
    proposed = evaluate(features, NOW, offer_settings).offer
    guarded = apply_guardrail(proposed, estimate, config, offer_settings)
    _assert_never_worse(proposed, guarded, features.current_limit_cents)
    if estimate is None or estimate.posterior_mean <= config.act_threshold:
        assert guarded.offer == (
            None
            if proposed is None
            else msgspec.structs.replace(
                proposed, reason_codes=(*proposed.reason_codes, *guarded.reason_codes)
            )
        )
        assert guarded.defer_promotional is False
