"""Enrollment and refresh rotation decisions (cloud/domain/devices/rules.py), as tables."""

from __future__ import annotations

import pytest

from cloud.domain.devices.rules import (
    EnrollmentCode,
    PresentedToken,
    ReplacedDevice,
    Rotation,
    SuccessorToken,
    judge_enrollment,
    judge_rotation,
)
from cloud.store.errors import (
    EnrollmentCodeExpired,
    EnrollmentCodeInvalid,
    EnrollmentCodeUsed,
    ReplacesDeviceInvalid,
)

NOW = 1_000_000
CODE = EnrollmentCode(user_id="usr_1", expires_at=NOW + 1, used_at=None)


@pytest.mark.parametrize(
    ("code", "replaces", "replaced", "outcome"),
    [
        (CODE, None, None, "dev_new"),
        (CODE, "dev_old", ReplacedDevice(user_id="usr_1", lineage_id="dev_first"), "dev_first"),
        (None, None, None, EnrollmentCodeInvalid),
        (
            EnrollmentCode(user_id="usr_1", expires_at=NOW + 1, used_at=NOW - 5),
            None,
            None,
            EnrollmentCodeUsed,
        ),
        (EnrollmentCode(user_id="usr_1", expires_at=NOW, used_at=None), None, None, EnrollmentCodeExpired),
        # A used code is "used" even once expired: the first refusal that applies.
        (
            EnrollmentCode(user_id="usr_1", expires_at=NOW - 9, used_at=NOW - 10),
            None,
            None,
            EnrollmentCodeUsed,
        ),
        (CODE, "dev_gone", None, ReplacesDeviceInvalid),
        (CODE, "dev_other", ReplacedDevice(user_id="usr_2", lineage_id="dev_other"), ReplacesDeviceInvalid),
        # A device of the lineage was revoked as stolen: the lineage is closed.
        (
            CODE,
            "dev_stolen",
            ReplacedDevice(user_id="usr_1", lineage_id="dev_first", lineage_closed=True),
            ReplacesDeviceInvalid,
        ),
    ],
)
def test_enrollment(
    code: EnrollmentCode | None, replaces: str | None, replaced: ReplacedDevice | None, outcome: object
) -> None:
    def judge() -> str:
        return judge_enrollment(
            code, device_id="dev_new", replaces_device_id=replaces, replaced=replaced, now=NOW
        )

    if isinstance(outcome, str):
        assert judge() == outcome
    else:
        with pytest.raises(outcome):  # type: ignore[call-overload]
            judge()


GRACE = 60_000
LIVE = PresentedToken(expires_at=NOW + 1, spent_at=None, revoked_at=None, has_cached_answer=False)
SPENT = PresentedToken(expires_at=NOW + 1, spent_at=NOW - 10, revoked_at=None, has_cached_answer=True)
UNUSED = SuccessorToken(spent_at=None, revoked_at=None, expires_at=NOW + 1)


@pytest.mark.parametrize(
    ("revoked", "token", "successor", "verdict"),
    [
        (None, LIVE, None, Rotation.INVALID),  # unknown device
        (False, None, None, Rotation.INVALID),  # unknown token
        (True, LIVE, None, Rotation.DEVICE_REVOKED),
        (False, LIVE, None, Rotation.ROTATED),
        (
            False,
            PresentedToken(expires_at=NOW, spent_at=None, revoked_at=None, has_cached_answer=False),
            None,
            Rotation.INVALID,
        ),
        (
            False,
            PresentedToken(expires_at=NOW + 1, spent_at=None, revoked_at=NOW - 1, has_cached_answer=False),
            None,
            Rotation.INVALID,
        ),
        # The reply carrying the successor was lost: the same successor again, within and after grace.
        (False, SPENT, UNUSED, Rotation.REPLAYED),
        (
            False,
            PresentedToken(
                expires_at=NOW + 1, spent_at=NOW - GRACE - 1, revoked_at=None, has_cached_answer=True
            ),
            UNUSED,
            Rotation.REPLAYED_NEW_ACCESS,
        ),
        (False, SPENT, SuccessorToken(spent_at=None, revoked_at=None, expires_at=NOW), Rotation.INVALID),
        # The successor was used, or revoked, or the answer is no longer kept: reuse.
        (
            False,
            SPENT,
            SuccessorToken(spent_at=NOW - 1, revoked_at=None, expires_at=NOW + 1),
            Rotation.REUSED,
        ),
        (
            False,
            SPENT,
            SuccessorToken(spent_at=None, revoked_at=NOW - 1, expires_at=NOW + 1),
            Rotation.REUSED,
        ),
        (
            False,
            PresentedToken(expires_at=NOW + 1, spent_at=NOW - 10, revoked_at=None, has_cached_answer=False),
            UNUSED,
            Rotation.REUSED,
        ),
        (
            False,
            PresentedToken(expires_at=NOW + 1, spent_at=NOW - 10, revoked_at=NOW - 5, has_cached_answer=True),
            UNUSED,
            Rotation.REUSED,
        ),
        (False, SPENT, None, Rotation.REUSED),
    ],
)
def test_rotation(
    revoked: bool | None, token: PresentedToken | None, successor: SuccessorToken | None, verdict: Rotation
) -> None:
    assert (
        judge_rotation(device_revoked=revoked, token=token, successor=successor, grace_ms=GRACE, now=NOW)
        is verdict
    )
