"""The empathic guardrail: a stress estimate may only make a proposed offer gentler.

Rule (``docs/credit-policy.md`` restates it):

- the guardrail reads ``StressEstimate.posterior_mean``, the posterior mean of the share of this
  user's days that are high-stress over the recent window. Not ``prob_recent_high``: that is one
  day's randomized-response report (true with probability 0.65 at the edge's default epsilon), so it
  swings on noise, while an offer lives for days and should answer a pattern, not one report;
- it acts only when the estimate is trustworthy: at least ``min_days`` days with a report and a
  credible interval no wider than ``max_interval_width``; otherwise it does nothing, and says why;
- above ``act_threshold`` it keeps ``keep_increase_bps`` of the increase (half by default, rounded
  down to the limit step) and defers promotional pushes; above ``withhold_threshold``, or when the
  lowered increase rounds to nothing, it withholds the offer;
- it never changes the rate, the term or the expiry, and never raises the limit: the result is
  always the proposal itself, a smaller increase of it, or no offer.

Every call yields at least one ``GUARDRAIL_*`` reason code saying what it decided and why.
"""

from __future__ import annotations

import math
from typing import Final

import msgspec

from cloud.domain.analytics.signal import StressEstimate
from cloud.domain.credit.errors import InvalidGuardrailConfig, InvalidStressEstimate
from cloud.domain.credit.money import BPS_PER_UNIT, apply_bps, require_cents, round_down
from cloud.domain.credit.scorecard import OfferSettings, ProposedOffer

GUARDRAIL_NO_OFFER: Final = "GUARDRAIL_NO_OFFER"
GUARDRAIL_NO_SIGNAL: Final = "GUARDRAIL_NO_SIGNAL"
GUARDRAIL_TOO_FEW_DAYS: Final = "GUARDRAIL_TOO_FEW_DAYS"
GUARDRAIL_INTERVAL_TOO_WIDE: Final = "GUARDRAIL_INTERVAL_TOO_WIDE"
GUARDRAIL_BELOW_THRESHOLD: Final = "GUARDRAIL_BELOW_THRESHOLD"
GUARDRAIL_INCREASE_LOWERED: Final = "GUARDRAIL_INCREASE_LOWERED"
GUARDRAIL_OFFER_WITHHELD: Final = "GUARDRAIL_OFFER_WITHHELD"
GUARDRAIL_PROMO_DEFERRED: Final = "GUARDRAIL_PROMO_DEFERRED"


class GuardrailConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Thresholds of the guardrail.

    Defaults are set against what the stress posterior can say at the edge's default mechanism
    (two levels, epsilon 0.6): seven days all reported high give a posterior mean near 0.36 with a
    90 % interval about 0.67 wide, a month with two days in three high about 0.46 and 0.63.
    """

    act_threshold: float = 0.35
    """Act when ``posterior_mean`` is strictly above this."""
    withhold_threshold: float = 0.55
    """Withhold the offer when ``posterior_mean`` is strictly above this (>= ``act_threshold``)."""
    min_days: int = 7
    """Fewer days with a report than this: the estimate is mostly the prior, do nothing."""
    max_interval_width: float = 0.7
    """A credible interval wider than this says too little to act on."""
    keep_increase_bps: int = 5_000
    """Share of the proposed increase kept when lowering it (0 .. 10_000)."""


class GuardedOffer(msgspec.Struct, frozen=True, kw_only=True):
    """The guardrail's answer for one proposal."""

    proposed: ProposedOffer | None
    """The scorecard's proposal, unchanged."""
    offer: ProposedOffer | None
    """What may be offered: the proposal, a gentler copy of it, or ``None``."""
    defer_promotional: bool
    """Promotional pushes to this user wait for a calmer time (transactional ones never do)."""
    reason_codes: tuple[str, ...]
    """The guardrail's decisions (also appended to ``offer.reason_codes`` when there is an offer)."""


def _probability(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidStressEstimate(f"{what} must be a finite number, got {value!r}")
    if not 0.0 <= value <= 1.0:
        raise InvalidStressEstimate(f"{what} must be in [0, 1], got {value}")
    return float(value)


def validate_estimate(estimate: StressEstimate) -> StressEstimate:
    """``estimate`` unchanged if coherent, else :class:`InvalidStressEstimate`."""
    mean = _probability(estimate.posterior_mean, "posterior_mean")
    lower = _probability(estimate.lower, "lower")
    upper = _probability(estimate.upper, "upper")
    _probability(estimate.prob_recent_high, "prob_recent_high")
    if not lower <= mean <= upper:
        raise InvalidStressEstimate(f"need lower <= posterior_mean <= upper, got {lower}, {mean}, {upper}")
    if isinstance(estimate.n_days, bool) or not isinstance(estimate.n_days, int) or estimate.n_days < 0:
        raise InvalidStressEstimate(f"n_days must be a non-negative integer, got {estimate.n_days!r}")
    return estimate


def validate_config(config: GuardrailConfig) -> GuardrailConfig:
    """``config`` unchanged if coherent, else :class:`InvalidGuardrailConfig`."""
    for name in ("act_threshold", "withhold_threshold", "max_interval_width"):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 < value < 1.0:
            raise InvalidGuardrailConfig(f"{name} must be a number in (0, 1), got {value!r}")
    if config.withhold_threshold < config.act_threshold:
        raise InvalidGuardrailConfig("withhold_threshold must not be below act_threshold")
    for name, high in (("min_days", 10_000), ("keep_increase_bps", BPS_PER_UNIT)):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
            raise InvalidGuardrailConfig(f"{name} must be an integer in 0..{high}, got {value!r}")
    return config


def apply_guardrail(
    proposed: ProposedOffer | None,
    estimate: StressEstimate | None,
    config: GuardrailConfig | None = None,
    settings: OfferSettings | None = None,
) -> GuardedOffer:
    """Make ``proposed`` gentler if ``estimate`` shows sustained high stress; never make it worse.

    ``settings`` gives the limit step a lowered increase is rounded down to (the scorecard's).
    Raises :class:`InvalidGuardrailConfig` or :class:`InvalidStressEstimate` on bad input.
    """
    config = validate_config(config or GuardrailConfig())
    step = require_cents((settings or OfferSettings()).limit_step_cents, "limit_step_cents")
    if estimate is not None:
        validate_estimate(estimate)

    def unchanged(code: str, defer: bool = False) -> GuardedOffer:
        offer = proposed
        if offer is not None:
            offer = msgspec.structs.replace(offer, reason_codes=(*offer.reason_codes, code))
        return GuardedOffer(proposed=proposed, offer=offer, defer_promotional=defer, reason_codes=(code,))

    if estimate is None:
        return unchanged(GUARDRAIL_NO_SIGNAL)
    if estimate.n_days < config.min_days:
        return unchanged(GUARDRAIL_TOO_FEW_DAYS)
    if estimate.upper - estimate.lower > config.max_interval_width:
        return unchanged(GUARDRAIL_INTERVAL_TOO_WIDE)
    if estimate.posterior_mean <= config.act_threshold:
        return unchanged(GUARDRAIL_BELOW_THRESHOLD)
    # From here recent stress is high: whatever happens to the offer, promotions wait.
    if proposed is None:
        codes: tuple[str, ...] = (GUARDRAIL_NO_OFFER, GUARDRAIL_PROMO_DEFERRED)
        return GuardedOffer(proposed=None, offer=None, defer_promotional=True, reason_codes=codes)
    kept = round_down(apply_bps(proposed.increase_cents, config.keep_increase_bps), step)
    if estimate.posterior_mean > config.withhold_threshold or kept <= 0:
        codes = (GUARDRAIL_OFFER_WITHHELD, GUARDRAIL_PROMO_DEFERRED)
        return GuardedOffer(proposed=proposed, offer=None, defer_promotional=True, reason_codes=codes)
    codes = (GUARDRAIL_INCREASE_LOWERED, GUARDRAIL_PROMO_DEFERRED)
    # Only the limit moves, and only down towards the current one; rate, term and expiry are kept.
    gentler = msgspec.structs.replace(
        proposed,
        new_limit_cents=proposed.current_limit_cents + min(kept, proposed.increase_cents),
        reason_codes=(*proposed.reason_codes, *codes),
    )
    return GuardedOffer(proposed=proposed, offer=gentler, defer_promotional=True, reason_codes=codes)
