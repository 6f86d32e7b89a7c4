"""JSON answers of the analytics admin endpoints."""

from __future__ import annotations

import msgspec

from cloud.domain.analytics.signal import StressEstimate


class LevelOut(msgspec.Struct, kw_only=True):
    level: int
    estimate: float
    """Unbiased share of the level; may be below 0 or above 1 (use it for any further averaging)."""
    std_error: float
    lower: float
    """95% normal-approximation interval, unclipped."""
    upper: float
    shown: float
    """``estimate`` clipped to [0, 1], for display only."""
    shown_lower: float
    shown_upper: float


class MechanismGroupOut(msgspec.Struct, kw_only=True):
    epsilon: float
    n: int
    p_true: float
    """Probability that one report of this group is the true level."""
    weight: float


class DistributionOut(msgspec.Struct, kw_only=True):
    model_version: str
    """The model whose reports these are: two models' scores are not one scale."""
    k: int
    n: int
    groups: list[MechanismGroupOut]
    levels: list[LevelOut]


class PopulationStressOut(msgspec.Struct, kw_only=True):
    field: str
    first_day: str
    last_day: str
    n: int
    """Reports used (one per device lineage and day)."""
    skipped: int
    """Aggregates left out because their mechanism is unknown to this server."""
    distributions: list[DistributionOut]
    """One per model version and number of levels k present (two models' scores are not one scale,
    levels of different k not comparable)."""


class UserStressOut(msgspec.Struct, kw_only=True):
    user_id: str
    as_of_day: str
    window_days: int
    estimate: StressEstimate | None
    """``None``: no report in the window, so no signal."""
