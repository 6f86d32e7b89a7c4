"""One credit evaluation, end to end but without I/O: inputs → scorecard → guardrail → result.

The service (:mod:`cloud.domain.credit.services`) reads the inputs and the stress estimate, calls
:func:`decide`, and records what it returns in one store transaction. Keeping the decision pure
lets the "never worse" property be tested through exactly the code the job runs.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Final

import msgspec

from cloud.domain.analytics.signal import StressEstimate
from cloud.domain.credit.guardrail import GuardedOffer, GuardrailConfig, apply_guardrail
from cloud.domain.credit.money import BPS_PER_UNIT
from cloud.domain.credit.scorecard import (
    POLICY_VERSION,
    CreditFeatures,
    IncomeBand,
    OfferSettings,
    ProposedOffer,
    ScoreLine,
    evaluate,
)
from cloud.store.records import CreditFeaturesRecord, ProfileRecord

OPEN_OFFER_EXISTS: Final = "NO_OFFER_OPEN_OFFER_EXISTS"
"""No offer: the user had an offer in flight when the evaluation ran."""
EVALUATION_FAILED: Final = "EVALUATION_FAILED"
HOUR_MS: Final = 3_600_000


class Terms(msgspec.Struct, frozen=True, kw_only=True):
    """Offer terms as an evaluation reports them (the proposal, or what is offered)."""

    current_limit_cents: int
    new_limit_cents: int
    rate_bps: int
    term_months: int
    expires_at: int
    reason_codes: list[str]


class GuardrailOut(msgspec.Struct, frozen=True, kw_only=True):
    """What the guardrail decided, and the estimate it read (``None``: no signal)."""

    reason_codes: list[str]
    defer_promotional: bool
    estimate: StressEstimate | None


class EvaluationResult(msgspec.Struct, frozen=True, kw_only=True):
    """Everything one evaluation decided, as stored with it and returned by the admin API."""

    policy_version: str
    score: int | None = None
    risk_band: str | None = None
    lines: list[ScoreLine] = msgspec.field(default_factory=list)
    proposed: Terms | None = None
    """The scorecard's proposal, before the guardrail."""
    guardrail: GuardrailOut | None = None
    offer: Terms | None = None
    """What is offered (after the guardrail), or ``None``."""
    reason_codes: list[str] = msgspec.field(default_factory=list)
    """Scorecard codes, then the guardrail's (the offer carries exactly these)."""
    no_offer_reason: str | None = None
    """Why there is no offer: the last deciding code (``NO_OFFER_*``, ``GUARDRAIL_*``)."""
    promo_not_before: int | None = None
    """When the offer's announcement may be pushed, if the guardrail deferred it (epoch ms)."""
    error: str | None = None
    """Why the evaluation failed (``status`` ``failed``)."""


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """:func:`decide`'s answer: the result to store and the offer to create, if any."""

    result: EvaluationResult
    offer: ProposedOffer | None
    defer_promotional: bool


def utilisation_bps(profile: ProfileRecord) -> int:
    """Balance over limit in basis points, rounded down; over the limit (or no limit) is 10 000."""
    if profile.limit_cents <= 0:
        return BPS_PER_UNIT if profile.used_cents > 0 else 0
    return min(BPS_PER_UNIT, profile.used_cents * BPS_PER_UNIT // profile.limit_cents)


def credit_features(features: CreditFeaturesRecord, profile: ProfileRecord) -> CreditFeatures:
    """The scorecard's inputs: the stored features plus what the profile says now."""
    return CreditFeatures(
        months_on_book=features.months_on_book,
        utilisation_bps=utilisation_bps(profile),
        on_time_payments_12m=features.on_time_payments_12m,
        missed_payments_12m=features.missed_payments_12m,
        income_band=IncomeBand(features.income_band),
        current_limit_cents=profile.limit_cents,
        current_rate_bps=profile.rate_bps,
    )


def calm_time(now: int, hour: int, min_hours: int, tz_offset_min: int = 0) -> int:
    """The first ``hour``:00 of the user's local time at least ``min_hours`` after ``now`` (epoch
    ms); local time is UTC plus ``tz_offset_min`` (0 when the user's offset is not known)."""
    local = timezone(timedelta(minutes=tz_offset_min))
    earliest = datetime.fromtimestamp((now + min_hours * HOUR_MS) / 1000, tz=local)
    candidate = earliest.replace(hour=hour, minute=0, second=0, microsecond=0)
    if candidate < earliest:
        candidate += timedelta(days=1)
    return int(candidate.timestamp() * 1000)


def _terms(offer: ProposedOffer) -> Terms:
    return Terms(
        current_limit_cents=offer.current_limit_cents,
        new_limit_cents=offer.new_limit_cents,
        rate_bps=offer.rate_bps,
        term_months=offer.term_months,
        expires_at=offer.expires_at,
        reason_codes=list(offer.reason_codes),
    )


def decide(
    features: CreditFeatures,
    estimate: StressEstimate | None,
    now: int,
    *,
    config: GuardrailConfig,
    settings: OfferSettings,
    open_offer: bool,
    calm: int,
) -> Decision:
    """Score, propose, apply the guardrail; ``calm`` is when a deferred announcement may go.

    With ``open_offer`` the result is recorded but no offer is made (one offer in flight at a
    time). Raises the credit module's named errors on bad input.
    """
    scored = evaluate(features, now, settings)
    guarded: GuardedOffer = apply_guardrail(scored.offer, estimate, config, settings)
    codes = [*scored.reason_codes, *guarded.reason_codes]
    offer = guarded.offer
    no_offer_reason: str | None = None
    if scored.offer is None:
        no_offer_reason = scored.reason_codes[-1]  # the scorecard's rule decided, not the guardrail
    elif offer is None:
        no_offer_reason = guarded.reason_codes[0]  # GUARDRAIL_OFFER_WITHHELD
    if open_offer:
        offer = None
        no_offer_reason = OPEN_OFFER_EXISTS
        codes.append(OPEN_OFFER_EXISTS)
    result = EvaluationResult(
        policy_version=scored.policy_version,
        score=scored.result.score,
        risk_band=scored.result.risk_band.value,
        lines=list(scored.result.lines),
        proposed=None if scored.offer is None else _terms(scored.offer),
        guardrail=GuardrailOut(
            reason_codes=list(guarded.reason_codes),
            defer_promotional=guarded.defer_promotional,
            estimate=estimate,
        ),
        offer=None if offer is None else _terms(offer),
        reason_codes=codes,
        no_offer_reason=no_offer_reason,
        promo_not_before=calm if offer is not None and guarded.defer_promotional else None,
    )
    return Decision(result=result, offer=offer, defer_promotional=guarded.defer_promotional)


def failed(error: str) -> EvaluationResult:
    """The result of an evaluation that could not be computed."""
    return EvaluationResult(
        policy_version=POLICY_VERSION,
        reason_codes=[EVALUATION_FAILED],
        no_offer_reason=EVALUATION_FAILED,
        error=error,
    )
