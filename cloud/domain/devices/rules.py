"""Device identity decisions, as pure functions: enrollment with its lineage, and refresh rotation.

The transaction scripts (:mod:`cloud.store.scripts.devices`) read the rows, ask these functions
what to do and write what they decide; the rules are table-tested on their own
(``tests/unit/cloud/test_device_rules.py``).
"""

from __future__ import annotations

import enum

import msgspec

from cloud.store.errors import (
    EnrollmentCodeExpired,
    EnrollmentCodeInvalid,
    EnrollmentCodeUsed,
    ReplacesDeviceInvalid,
)


class EnrollmentCode(msgspec.Struct, frozen=True, kw_only=True):
    """A stored one-time code, as enrollment reads it."""

    user_id: str
    expires_at: int
    used_at: int | None


class ReplacedDevice(msgspec.Struct, frozen=True, kw_only=True):
    """The device an enrollment names in ``replaces_device_id``, as enrollment reads it."""

    user_id: str
    lineage_id: str
    lineage_closed: bool = False
    """A device of the lineage was revoked as stolen."""


def judge_enrollment(
    code: EnrollmentCode | None,
    *,
    device_id: str,
    replaces_device_id: str | None,
    replaced: ReplacedDevice | None,
    now: int,
) -> str:
    """The lineage the new device joins; raises the named refusal otherwise.

    A first device starts its own lineage (its id). A device re-enrolled after its store was
    restored names the one it replaces, which must be the same user's (a stranger's device gets
    the same answer as a missing one, so a code holder learns nothing), and continues its lineage,
    unless a device of it was revoked as stolen (a closed lineage is refused the same way).
    """
    if code is None:
        raise EnrollmentCodeInvalid()
    if code.used_at is not None:
        raise EnrollmentCodeUsed()
    if code.expires_at <= now:
        raise EnrollmentCodeExpired()
    if replaces_device_id is None:
        return device_id
    if replaced is None or replaced.user_id != code.user_id:
        raise ReplacesDeviceInvalid()
    if replaced.lineage_closed:
        # A stolen phone's identity ends with its revoke: whoever holds it may not continue it.
        raise ReplacesDeviceInvalid("the device was revoked as stolen: its lineage is closed")
    return replaced.lineage_id


class PresentedToken(msgspec.Struct, frozen=True, kw_only=True):
    """The refresh token a device presented, as rotation reads it."""

    expires_at: int
    spent_at: int | None
    revoked_at: int | None
    has_cached_answer: bool
    """The answer given when it was spent is still kept (until its successor is spent)."""


class SuccessorToken(msgspec.Struct, frozen=True, kw_only=True):
    """The token that replaced a spent one."""

    spent_at: int | None
    revoked_at: int | None
    expires_at: int


class Rotation(enum.StrEnum):
    INVALID = "invalid"
    """Unknown, expired or revoked token, or a replay whose successor expired: nothing changes."""
    DEVICE_REVOKED = "device_revoked"
    ROTATED = "rotated"
    """A live token: spend it and store its successor."""
    REPLAYED = "replayed"
    """The most recently spent token, whose successor nobody used (the reply that carried it was
    most likely lost): answer with that successor, not a revocation."""
    REPLAYED_NEW_ACCESS = "replayed_new_access"
    """As :attr:`REPLAYED`, after the grace period: the cached access token may have expired, so the
    answer carries a newly issued one."""
    REUSED = "reused"
    """A spent token whose successor was used, or an older one: it may have been stolen, so every
    token of the device is revoked."""


def judge_rotation(
    *,
    device_revoked: bool | None,
    token: PresentedToken | None,
    successor: SuccessorToken | None,
    grace_ms: int,
    now: int,
) -> Rotation:
    """What presenting ``token`` does (``device_revoked`` is ``None`` for an unknown device)."""
    if device_revoked is None or token is None:
        return Rotation.INVALID
    if device_revoked:
        return Rotation.DEVICE_REVOKED
    if token.spent_at is None:
        if token.revoked_at is not None or token.expires_at <= now:
            return Rotation.INVALID
        return Rotation.ROTATED
    successor_unused = successor is not None and successor.spent_at is None and successor.revoked_at is None
    if token.revoked_at is None and successor_unused and token.has_cached_answer:
        assert successor is not None
        if successor.expires_at <= now:
            return Rotation.INVALID
        return Rotation.REPLAYED_NEW_ACCESS if now - token.spent_at > grace_ms else Rotation.REPLAYED
    return Rotation.REUSED
