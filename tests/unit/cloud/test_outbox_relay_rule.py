"""The relay's step for one row (cloud/outbox/rules.py), as a table."""

from __future__ import annotations

import pytest

from cloud.outbox.rules import RelayStep, relay_step

NOW = 100_000
T = 1_000  # relay timeout


@pytest.mark.parametrize(
    ("attempts", "first", "updated_at", "not_before", "step"),
    [
        (0, 0, NOW - T + 1, None, RelayStep.WAIT),  # touched within the timeout
        (0, 0, NOW - T, None, RelayStep.REENQUEUE),
        (0, 0, NOW - T, NOW + 1, RelayStep.WAIT),  # backing off after an FCM retry answer
        (0, 0, NOW - T, NOW, RelayStep.REENQUEUE),
        (3, 0, NOW - T, None, RelayStep.REENQUEUE),  # attempt 3 of 0..4 timed out
        (4, 0, NOW - T, None, RelayStep.DEAD_LETTER),  # the last of five timed out
        (9, 5, NOW - T, None, RelayStep.DEAD_LETTER),  # an operator's retry round, 5..9
        (8, 5, NOW - T, None, RelayStep.REENQUEUE),
    ],
)
def test_relay_step(
    attempts: int, first: int, updated_at: int, not_before: int | None, step: RelayStep
) -> None:
    assert (
        relay_step(
            attempts=attempts,
            first_attempt=first,
            max_attempts=5,
            updated_at=updated_at,
            not_before=not_before,
            timeout_ms=T,
            now=NOW,
        )
        is step
    )
