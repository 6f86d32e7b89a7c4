"""When an evaluation's result may no longer be recorded: its inputs changed meanwhile (pure rule)."""

from __future__ import annotations

from cloud.store.records import EvaluationInputs, ProfileRecord


def _money_fields(profile: ProfileRecord | None) -> tuple[object, ...] | None:
    if profile is None:
        return None
    return (profile.currency, profile.limit_cents, profile.used_cents, profile.rate_bps)


def read_is_stale(read: EvaluationInputs, now: EvaluationInputs) -> bool:
    """Whether what an evaluation was computed from changed before its result was recorded.

    The profile's money (not its ``updated_at``), the credit features and the offer in flight
    must be as read; otherwise the job evaluates again rather than record a result on stale inputs.
    """
    return (
        _money_fields(read.profile) != _money_fields(now.profile)
        or read.features != now.features
        or read.open_offer_id != now.open_offer_id
    )
