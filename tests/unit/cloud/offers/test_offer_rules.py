"""The offer state machine and the offline-acceptance rule, table-tested at their edges."""

from __future__ import annotations

import itertools

import pytest

from cloud.domain.offers.rules import (
    DEFAULT_GRACE_MS,
    DEFAULT_MAX_TRUSTED_SKEW_MS,
    HOUR_MS,
    TRANSITIONS,
    AcceptanceRule,
    AcceptanceVerdict,
    ApplyVerdict,
    IllegalTransition,
    OfferCannotReopen,
    OfferNotAccepted,
    OfferNotOpen,
    judge_acceptance,
    judge_apply,
    transition,
)
from sync.messages import OfferStatus as S

LEGAL = {
    (S.OFFERED, S.ACCEPTED),
    (S.ACCEPTED, S.APPLIED),
    (S.OFFERED, S.DECLINED),
    (S.OFFERED, S.EXPIRED),
    (S.OFFERED, S.WITHDRAWN),
    (S.ACCEPTED, S.FAILED),
}


def test_the_legal_transitions_are_exactly_the_design_ones() -> None:
    assert set(TRANSITIONS) == LEGAL
    for current, target in LEGAL:
        assert transition(current, target) is target


@pytest.mark.parametrize(("current", "target"), [p for p in itertools.product(S, S) if p not in LEGAL])
def test_every_other_transition_raises_its_named_error(current: S, target: S) -> None:
    expected: type[IllegalTransition]
    if target in (S.ACCEPTED, S.DECLINED, S.EXPIRED, S.WITHDRAWN):
        expected = OfferNotOpen
    elif target in (S.APPLIED, S.FAILED):
        expected = OfferNotAccepted
    else:
        expected = OfferCannotReopen
    with pytest.raises(expected) as info:
        transition(current, target)
    assert (info.value.current, info.value.target) == (current, target)


CREATED = 1_000 * HOUR_MS
EXPIRES = CREATED + 14 * 24 * HOUR_MS
GRACE = DEFAULT_GRACE_MS
MAX_SKEW = DEFAULT_MAX_TRUSTED_SKEW_MS
V = AcceptanceVerdict


@pytest.mark.parametrize(
    ("accepted_at_device", "skew_ms", "arrived_at", "verdict"),
    [
        # Arrival before expiry always counts, whatever the device clock says.
        (CREATED + 1, 0, CREATED + 2, V.ON_TIME),
        (EXPIRES - 1, 0, EXPIRES - 1, V.ON_TIME),
        (EXPIRES + 10 * HOUR_MS, 10 * 24 * HOUR_MS, EXPIRES - 1, V.ON_TIME),
        # Arrival at expiry is late: the device time must show it was accepted before.
        (EXPIRES - 1, 0, EXPIRES, V.OFFLINE_IN_GRACE),
        (EXPIRES, 0, EXPIRES, V.ACCEPTED_AFTER_EXPIRY),
        # Late, device time before expiry, within grace (edges included).
        (EXPIRES - HOUR_MS, 0, EXPIRES + GRACE, V.OFFLINE_IN_GRACE),
        (EXPIRES - HOUR_MS, 0, EXPIRES + 1, V.OFFLINE_IN_GRACE),
        # Beyond grace nothing counts, however early the device says it accepted.
        (EXPIRES - HOUR_MS, 0, EXPIRES + GRACE + 1, V.BEYOND_GRACE),
        (CREATED, 0, EXPIRES + 30 * 24 * HOUR_MS, V.BEYOND_GRACE),
        # Late and accepted after expiry on device time.
        (EXPIRES + HOUR_MS, 0, EXPIRES + 2 * HOUR_MS, V.ACCEPTED_AFTER_EXPIRY),
        # Device clock 30 min ahead: its readings are 30 min later than the server's.
        (EXPIRES + 20 * 60_000, 30 * 60_000, EXPIRES + HOUR_MS, V.OFFLINE_IN_GRACE),
        (EXPIRES + 40 * 60_000, 30 * 60_000, EXPIRES + HOUR_MS, V.ACCEPTED_AFTER_EXPIRY),
        # Device clock 30 min behind: 10 min before expiry on it is 20 min after expiry.
        (EXPIRES - 10 * 60_000, -30 * 60_000, EXPIRES + HOUR_MS, V.ACCEPTED_AFTER_EXPIRY),
        (EXPIRES - 30 * 60_000, -30 * 60_000, EXPIRES + HOUR_MS, V.ACCEPTED_AFTER_EXPIRY),
        (EXPIRES - 31 * 60_000, -30 * 60_000, EXPIRES + HOUR_MS, V.OFFLINE_IN_GRACE),
        # Skew at the trusted bound is used; one ms beyond is refused for a late arrival.
        (EXPIRES + MAX_SKEW - 1, MAX_SKEW, EXPIRES + 2 * HOUR_MS, V.OFFLINE_IN_GRACE),
        (EXPIRES + MAX_SKEW, MAX_SKEW + 1, EXPIRES + 2 * HOUR_MS, V.CLOCK_UNTRUSTED),
        (EXPIRES - 2 * MAX_SKEW, -MAX_SKEW - 1, EXPIRES + 2 * HOUR_MS, V.CLOCK_UNTRUSTED),
        # A device clock a year in the future cannot date a late acceptance at all.
        (EXPIRES + 365 * 24 * HOUR_MS, 365 * 24 * HOUR_MS, EXPIRES + HOUR_MS, V.CLOCK_UNTRUSTED),
        # Abuse: clock set back to accept "early", then restored before syncing (skew 0). The
        # claim counts only because it arrives within grace; the gain is bounded by the grace.
        (EXPIRES - 24 * HOUR_MS, 0, EXPIRES + 48 * HOUR_MS, V.OFFLINE_IN_GRACE),
        # ... but not dated before the offer existed, nor after it reached the server.
        (CREATED - 1, 0, EXPIRES + HOUR_MS, V.TIME_IMPLAUSIBLE),
        (EXPIRES + 2 * HOUR_MS, 0, EXPIRES + HOUR_MS, V.TIME_IMPLAUSIBLE),
    ],
)
def test_acceptance_rule(accepted_at_device: int, skew_ms: int, arrived_at: int, verdict: V) -> None:
    got = judge_acceptance(
        accepted_at_device=accepted_at_device,
        skew_ms=skew_ms,
        arrived_at=arrived_at,
        offer_created_at=CREATED,
        expires_at=EXPIRES,
    )
    assert got is verdict
    assert got.counts is (verdict in (V.ON_TIME, V.OFFLINE_IN_GRACE))


def test_rule_bounds_are_settings() -> None:
    tight = AcceptanceRule(grace_ms=HOUR_MS, max_trusted_skew_ms=0)
    args = {"offer_created_at": CREATED, "expires_at": EXPIRES}
    assert (
        judge_acceptance(
            accepted_at_device=EXPIRES - 1, skew_ms=0, arrived_at=EXPIRES + HOUR_MS, rule=tight, **args
        )
        is V.OFFLINE_IN_GRACE
    )
    assert (
        judge_acceptance(
            accepted_at_device=EXPIRES - 1, skew_ms=0, arrived_at=EXPIRES + HOUR_MS + 1, rule=tight, **args
        )
        is V.BEYOND_GRACE
    )
    assert (
        judge_acceptance(
            accepted_at_device=EXPIRES - 2, skew_ms=1, arrived_at=EXPIRES + 1, rule=tight, **args
        )
        is V.CLOCK_UNTRUSTED
    )


# (base limit, base rate, profile limit, profile rate, verdict)
APPLY_TABLE: list[tuple[int, int | None, int, int, ApplyVerdict]] = [
    (100_000, 1_990, 100_000, 1_990, ApplyVerdict.APPLY),
    # Another offer applied first: the limit moved up past this offer's base.
    (100_000, 1_990, 307_100, 1_790, ApplyVerdict.BASE_CHANGED),
    # An operator lowered the limit, or changed only the rate.
    (100_000, 1_990, 90_000, 1_990, ApplyVerdict.BASE_CHANGED),
    (100_000, 1_990, 100_000, 1_490, ApplyVerdict.BASE_CHANGED),
    (100_000, 1_990, 100_000, 2_490, ApplyVerdict.BASE_CHANGED),
    # An offer made before the base rate was recorded: the limit alone decides.
    (100_000, None, 100_000, 1_490, ApplyVerdict.APPLY),
    (100_000, None, 100_001, 1_490, ApplyVerdict.BASE_CHANGED),
]


@pytest.mark.parametrize(("base_limit", "base_rate", "limit", "rate", "verdict"), APPLY_TABLE)
def test_apply_is_a_compare_and_set_on_the_base(
    base_limit: int, base_rate: int | None, limit: int, rate: int, verdict: ApplyVerdict
) -> None:
    assert (
        judge_apply(
            base_limit_cents=base_limit,
            base_rate_bps=base_rate,
            profile_limit_cents=limit,
            profile_rate_bps=rate,
        )
        is verdict
    )
