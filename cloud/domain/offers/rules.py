"""The offer state machine and the offline-acceptance rule, as pure functions (no I/O, no clock).

State machine (DESIGN §7)::

    OFFERED -> ACCEPTED -> APPLIED
    OFFERED -> DECLINED | EXPIRED | WITHDRAWN
    ACCEPTED -> FAILED     (at once when the profile left the offer's base: :func:`judge_apply`;
                            or when the relay's attempts ran out)

Every other transition raises one of three named errors: :class:`OfferNotOpen` (the target needs an
open, ``OFFERED`` offer), :class:`OfferNotAccepted` (the target needs an ``ACCEPTED`` offer) or
:class:`OfferCannotReopen` (nothing goes back to ``OFFERED``).

Offline acceptance (``docs/offers.md`` restates it): an ``AcceptOffer`` that *arrives* before the
offer's expiry always counts. One that arrives later counts only if it arrives within the grace
period after expiry AND the device's acceptance time (``AcceptOffer.created_at``), moved to the
server's clock with the device's measured skew, is before expiry — and only when that device time
can be trusted: the skew is within ``max_trusted_skew_ms``, and the acceptance is not dated before
the offer existed nor after it reached the server.
"""

from __future__ import annotations

import enum
from typing import Final

import msgspec

from sync.messages import OfferStatus
from sync.timing import to_server_time

HOUR_MS: Final = 3_600_000
DEFAULT_GRACE_MS: Final = 72 * HOUR_MS
"""How long after expiry an acceptance made offline before expiry may still reach the server."""
DEFAULT_MAX_TRUSTED_SKEW_MS: Final = 1 * HOUR_MS
"""A device clock further off than this cannot date an acceptance that arrives late."""


class IllegalTransition(ValueError):
    """Base of the named errors for a transition the state machine does not have."""

    def __init__(self, current: OfferStatus, target: OfferStatus) -> None:
        super().__init__(f"an offer cannot go from {current.value} to {target.value}")
        self.current = current
        self.target = target


class OfferNotOpen(IllegalTransition):
    """Accept, decline, expire or withdraw an offer that is not ``OFFERED`` any more."""


class OfferNotAccepted(IllegalTransition):
    """Apply or fail an offer that is not ``ACCEPTED``."""


class OfferCannotReopen(IllegalTransition):
    """Move an offer back to ``OFFERED``."""


_FROM_OFFERED: Final = frozenset(
    {OfferStatus.ACCEPTED, OfferStatus.DECLINED, OfferStatus.EXPIRED, OfferStatus.WITHDRAWN}
)
_FROM_ACCEPTED: Final = frozenset({OfferStatus.APPLIED, OfferStatus.FAILED})

TRANSITIONS: Final[frozenset[tuple[OfferStatus, OfferStatus]]] = frozenset(
    {(OfferStatus.OFFERED, t) for t in _FROM_OFFERED} | {(OfferStatus.ACCEPTED, t) for t in _FROM_ACCEPTED}
)
"""Every legal ``(from, to)`` pair."""


def transition(current: OfferStatus, target: OfferStatus) -> OfferStatus:
    """``target`` if the machine allows ``current -> target``, else the named :class:`IllegalTransition`."""
    if (current, target) in TRANSITIONS:
        return target
    if target in _FROM_OFFERED:
        raise OfferNotOpen(current, target)
    if target in _FROM_ACCEPTED:
        raise OfferNotAccepted(current, target)
    raise OfferCannotReopen(current, target)


class AcceptanceRule(msgspec.Struct, frozen=True, kw_only=True):
    """The two bounds of the offline-acceptance rule, in milliseconds."""

    grace_ms: int = DEFAULT_GRACE_MS
    max_trusted_skew_ms: int = DEFAULT_MAX_TRUSTED_SKEW_MS


class AcceptanceVerdict(enum.StrEnum):
    """Why an acceptance counts or not; only the first two count."""

    ON_TIME = "on_time"
    """It reached the server before expiry."""
    OFFLINE_IN_GRACE = "offline_in_grace"
    """It arrived late but within the grace period, and the trusted device time is before expiry."""
    BEYOND_GRACE = "beyond_grace"
    """It arrived after expiry plus the grace period."""
    ACCEPTED_AFTER_EXPIRY = "accepted_after_expiry"
    """Device time, skew-corrected, is at or after expiry."""
    CLOCK_UNTRUSTED = "clock_untrusted"
    """It arrived late and the device clock is more than ``max_trusted_skew_ms`` off."""
    TIME_IMPLAUSIBLE = "time_implausible"
    """It arrived late and is dated before the offer existed or after it reached the server."""

    @property
    def counts(self) -> bool:
        return self in (AcceptanceVerdict.ON_TIME, AcceptanceVerdict.OFFLINE_IN_GRACE)


def judge_acceptance(
    *,
    accepted_at_device: int,
    skew_ms: int,
    arrived_at: int,
    offer_created_at: int,
    expires_at: int,
    rule: AcceptanceRule | None = None,
) -> AcceptanceVerdict:
    """Whether an ``AcceptOffer`` counts; all times are epoch ms, ``arrived_at`` on the server clock.

    ``skew_ms`` is the device clock minus the server clock as measured on the request that carried
    the acceptance (:func:`sync.timing.clock_skew_ms`). The device controls both its clock and
    ``created_at``, so device time can only ever *extend* an acceptance by the grace period:
    arrival before expiry never needs it, and nothing arriving after ``expires_at + grace_ms``
    counts whatever it claims.
    """
    rule = rule or AcceptanceRule()
    if arrived_at < expires_at:
        return AcceptanceVerdict.ON_TIME
    if arrived_at > expires_at + rule.grace_ms:
        return AcceptanceVerdict.BEYOND_GRACE
    # Refused rather than clamped: clamping a clock that runs far behind would under-correct its
    # timestamps and so date the acceptance *earlier* than it was, in the device's favour.
    if abs(skew_ms) > rule.max_trusted_skew_ms:
        return AcceptanceVerdict.CLOCK_UNTRUSTED
    accepted_at = to_server_time(accepted_at_device, skew_ms)
    if accepted_at < offer_created_at or accepted_at > arrived_at:
        return AcceptanceVerdict.TIME_IMPLAUSIBLE
    if accepted_at < expires_at:
        return AcceptanceVerdict.OFFLINE_IN_GRACE
    return AcceptanceVerdict.ACCEPTED_AFTER_EXPIRY


class ApplyVerdict(enum.StrEnum):
    """Whether an accepted offer may be applied to the profile as it is now."""

    APPLY = "apply"
    BASE_CHANGED = "base_changed"
    """The profile's limit or rate is no longer what the offer was made on (another offer was
    applied meanwhile, or an operator changed the profile): applying would set terms the user was
    not shown against this profile — an "increase" that lowers the limit. The offer fails at once."""


def judge_apply(
    *,
    base_limit_cents: int,
    base_rate_bps: int | None,
    profile_limit_cents: int,
    profile_rate_bps: int,
) -> ApplyVerdict:
    """Compare-and-set guard of ``apply_offer``: apply only onto the base the offer was made on.

    ``base_rate_bps`` is ``None`` only for offers made before offers recorded their base rate;
    their limit is still compared.
    """
    if profile_limit_cents != base_limit_cents:
        return ApplyVerdict.BASE_CHANGED
    if base_rate_bps is not None and profile_rate_bps != base_rate_bps:
        return ApplyVerdict.BASE_CHANGED
    return ApplyVerdict.APPLY
