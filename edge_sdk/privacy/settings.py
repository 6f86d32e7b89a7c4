"""Typed settings of the privacy layer: retention, minimum windows, ε budget and its split, levels.

Defaults and why (see also ``docs`` for the privacy model):

- ``retention_days = 7``: window scores stay on the device a week, long enough to release every
  complete day even when the app is opened only every few days, and no longer.
- ``min_windows = 10``: a day with fewer than ten 60 s activity windows is not released at all;
  a mean over a handful of windows says little and would sit close to single events.
- ``epsilon_per_day = 1.0`` split ``0.6 / 0.2 / 0.2`` (stress / valence / arousal): stress is the
  signal the cloud acts on per user (the empathic guardrail); valence and arousal serve population
  statistics, which average over many users and can afford a thinner share.
- levels: stress ``2`` (not high / high), valence and arousal ``3`` (low / middle / high). With
  k-ary randomized response the chance of reporting the true level is ``e^ε / (e^ε + k - 1)``:
  0.646 for stress and 0.379 for valence and arousal at the defaults (1/k would be noise).
  Measured with ``python -m bench.privacy_analytics`` (the cloud's posterior, Beta(1, 4) prior,
  users whose true share of high-stress days is 0.1 / 0.3 / 0.6, 30 days of reports): three
  levels at ε 0.5 leave the mean posteriors at 0.19 / 0.22 / 0.25 — the user's state barely
  shows; two levels at ε 0.6 give 0.18 / 0.23 / 0.30. A binary "high stress" release is
  all the guardrail needs, and its ε is not spread over a middle level it never uses.
- ``lifetime_cap = 365.0``: one year of daily releases at the default ε; after that nothing more
  leaves the device.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from edge_sdk.privacy.errors import InvalidPrivacySettings
from edge_sdk.privacy.mechanism import RandomSource

MAX_FIELD_EPSILON = 10.0
"""The wire's upper bound for one field's ε (``sync.messages.Epsilon``)."""
_SHARE_TOLERANCE = 1e-9


def host_offset_min(epoch_ms: int) -> int:
    """The host's UTC offset in minutes at ``epoch_ms`` (daylight saving time included)."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).astimezone()
    offset = moment.utcoffset()
    return 0 if offset is None else int(offset.total_seconds() // 60)


@dataclass(frozen=True, slots=True, kw_only=True)
class PrivacySettings:
    """How long window scores stay, and how daily aggregates are released."""

    retention_days: int = 7
    """Window scores older than this are purged (on every release and by ``purge_expired``)."""
    notice_retention_days: int = 90
    """Acknowledged notices older than this are purged too (the cloud keeps them; a mirror rebuilt
    from scratch gets them back)."""
    min_windows: int = 10
    """A local day with fewer windows is not released (and spends no ε)."""
    epsilon_per_day: float = 1.0
    """ε spent on one released day, split across the three fields by the shares below."""
    stress_share: float = 0.6
    valence_share: float = 0.2
    arousal_share: float = 0.2
    stress_levels: int = 2
    valence_levels: int = 3
    arousal_levels: int = 3
    lifetime_cap: float = 365.0
    """Total ε this device may ever spend; a day that would exceed it is not released."""
    tz_offset_min: Callable[[int], int] = host_offset_min
    """UTC offset in minutes at an epoch-ms instant; decides which local day a window belongs to.
    Tests pass a constant."""
    random: RandomSource | None = None
    """Randomness of the mechanism; ``None`` draws from :mod:`secrets`. Tests pass a seeded
    ``random.Random`` (never do that in production)."""

    def __post_init__(self) -> None:
        if not 1 <= self.retention_days <= 366:
            raise InvalidPrivacySettings("retention_days must be in 1..366")
        if not 1 <= self.notice_retention_days <= 3650:
            raise InvalidPrivacySettings("notice_retention_days must be in 1..3650")
        if self.min_windows < 1:
            raise InvalidPrivacySettings("min_windows must be >= 1")
        if not (math.isfinite(self.epsilon_per_day) and self.epsilon_per_day > 0):
            raise InvalidPrivacySettings("epsilon_per_day must be a finite number > 0")
        shares = (self.stress_share, self.valence_share, self.arousal_share)
        if not all(math.isfinite(s) and s > 0 for s in shares):
            raise InvalidPrivacySettings("every epsilon share must be > 0 (a field needs some ε)")
        if abs(sum(shares) - 1.0) > _SHARE_TOLERANCE:
            raise InvalidPrivacySettings(f"epsilon shares must sum to 1, got {sum(shares)!r}")
        if any(self.epsilon_per_day * s > MAX_FIELD_EPSILON for s in shares):
            raise InvalidPrivacySettings(f"a field's epsilon may be at most {MAX_FIELD_EPSILON}")
        for name in ("stress_levels", "valence_levels", "arousal_levels"):
            if not 2 <= getattr(self, name) <= 16:
                raise InvalidPrivacySettings(f"{name} must be in 2..16")
        if not (math.isfinite(self.lifetime_cap) and self.lifetime_cap >= self.epsilon_per_day):
            raise InvalidPrivacySettings("lifetime_cap must be finite and >= epsilon_per_day")

    @property
    def retention_ms(self) -> int:
        return self.retention_days * 86_400_000

    @property
    def notice_retention_ms(self) -> int:
        return self.notice_retention_days * 86_400_000

    def field_epsilons(self) -> tuple[float, float, float]:
        """ε of stress, valence and arousal for one released day."""
        e = self.epsilon_per_day
        return (e * self.stress_share, e * self.valence_share, e * self.arousal_share)

    def field_levels(self) -> tuple[int, int, int]:
        return (self.stress_levels, self.valence_levels, self.arousal_levels)
