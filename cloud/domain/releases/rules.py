"""Which users a staged rollout reaches: a stable cohort bucket per user (spec §5.9)."""

from __future__ import annotations

import hashlib
from typing import Final

from cloud.constants import MODELS_PATH

BUCKETS: Final = 10_000
"""Cohort buckets; a rollout is a number of them, in basis points of the users."""

_SALT: Final = b"model-cohort:"


def cohort_bucket(user_id: str) -> int:
    """The user's bucket in ``[0, BUCKETS)``: the first 8 bytes of SHA-256 of ``model-cohort:`` and
    the user id, big-endian, modulo :data:`BUCKETS`. Stable across releases, so widening a
    rollout only adds users, and the users of a 1 % canary are in every wider rollout."""
    digest = hashlib.sha256(_SALT + user_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def in_rollout(user_id: str, rollout_bps: int) -> bool:
    """Whether a release rolled out to ``rollout_bps`` (of 10,000) reaches the user."""
    return cohort_bucket(user_id) < rollout_bps


def percent_to_bps(percent: float) -> int:
    """A rollout given in percent (two decimals count) as basis points; :class:`ValueError` outside
    0-100."""
    if not 0.0 <= percent <= 100.0:
        raise ValueError(f"a rollout is 0 to 100 percent, got {percent}")
    return round(percent * 100)


def release_url(release: int) -> str:
    """Where devices fetch a release's files, under the cloud's base URL."""
    return f"{MODELS_PATH}/{release}"
