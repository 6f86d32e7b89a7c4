"""An evaluation's result is recorded only on the inputs it was computed from (a table)."""

from __future__ import annotations

import msgspec
import pytest

from cloud.domain.credit.staleness import read_is_stale
from cloud.store.records import CreditFeaturesRecord, EvaluationInputs, EvaluationRecord, ProfileRecord

EVALUATION = EvaluationRecord(
    evaluation_id="e1",
    user_id="u1",
    status="pending",
    trigger="admin",
    day="2024-06-01",
    outbox_id=1,
    result=None,
    offer_id=None,
    created_at=0,
    updated_at=0,
    outbox_state="pending",
)
PROFILE = ProfileRecord(
    user_id="u1", currency="EUR", limit_cents=100_000, used_cents=0, rate_bps=1990, updated_at=1
)
FEATURES = CreditFeaturesRecord(
    user_id="u1",
    months_on_book=24,
    on_time_payments_12m=12,
    missed_payments_12m=0,
    income_band="mid",
    updated_at=1,
)
READ = EvaluationInputs(evaluation=EVALUATION, features=FEATURES, profile=PROFILE, open_offer_id=None)


@pytest.mark.parametrize(
    ("now", "stale"),
    [
        (READ, False),
        # Only when the profile was rewritten with the same money: not stale.
        (msgspec.structs.replace(READ, profile=msgspec.structs.replace(PROFILE, updated_at=99)), False),
        (msgspec.structs.replace(READ, profile=msgspec.structs.replace(PROFILE, limit_cents=150_000)), True),
        (msgspec.structs.replace(READ, profile=msgspec.structs.replace(PROFILE, used_cents=1)), True),
        (msgspec.structs.replace(READ, profile=msgspec.structs.replace(PROFILE, rate_bps=1790)), True),
        (msgspec.structs.replace(READ, profile=None), True),
        (
            msgspec.structs.replace(READ, features=msgspec.structs.replace(FEATURES, missed_payments_12m=1)),
            True,
        ),
        (msgspec.structs.replace(READ, open_offer_id="off_1"), True),
    ],
)
def test_read_is_stale(now: EvaluationInputs, stale: bool) -> None:
    assert read_is_stale(READ, now) is stale
