"""The cloud's consent rules (cloud/domain/consent/rules.py), as tables."""

from __future__ import annotations

import pytest

from cloud.domain.consent.rules import (
    ConsentOrder,
    aggregate_refusal,
    changed_at,
    consent_scopes,
    order_change,
)
from sync.codes import RejectionCode
from sync.messages import ConsentScope as S

T = 1_717_243_200_000


@pytest.mark.parametrize(
    ("created_at", "skew_ms", "arrived_at", "expected"),
    [
        (T, 0, T + 5, T),
        # A device running 10 min fast made the change at T - 10 min on the server's clock.
        (T, 600_000, T + 5, T - 600_000),
        # A device 10 min slow.
        (T, -600_000, T + 700_000, T + 600_000),
        # Never later than the arrival (a clock changed between the change and the send).
        (T, -600_000, T + 5, T + 5),
    ],
)
def test_changed_at_is_the_skew_corrected_creation_time(
    created_at: int, skew_ms: int, arrived_at: int, expected: int
) -> None:
    assert changed_at(created_at, skew_ms, arrived_at) == expected


@pytest.mark.parametrize(
    ("changed", "recorded", "order"),
    [
        (T, None, ConsentOrder.APPLY),
        (T, T - 1, ConsentOrder.APPLY),
        (T, T, ConsentOrder.APPLY),
        (T - 1, T, ConsentOrder.STALE),
        (0, T, ConsentOrder.STALE),
    ],
)
def test_an_older_change_is_stale(changed: int, recorded: int | None, order: ConsentOrder) -> None:
    assert order_change(changed, recorded) is order


@pytest.mark.parametrize(
    ("granted", "refusal"),
    [
        (True, None),
        (False, (RejectionCode.CONSENT_MISSING, "share_aggregates is revoked")),
        (None, (RejectionCode.CONSENT_MISSING, "share_aggregates was never granted")),
    ],
)
def test_aggregates_need_a_recorded_grant(
    granted: bool | None, refusal: tuple[RejectionCode, str] | None
) -> None:
    assert aggregate_refusal(granted) == refusal


def test_consent_state_lists_every_scope() -> None:
    assert consent_scopes({}) == {S.INFERENCE: False, S.SHARE_AGGREGATES: False, S.PUSH: False}
    assert consent_scopes({"push": True, "inference": False}) == {
        S.INFERENCE: False,
        S.SHARE_AGGREGATES: False,
        S.PUSH: True,
    }
