"""Users, enrollment, devices and refresh-token rotation: transaction scripts over :class:`Tx`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from cloud.domain.devices.rules import (
    EnrollmentCode,
    PresentedToken,
    ReplacedDevice,
    Rotation,
    SuccessorToken,
    judge_enrollment,
    judge_rotation,
)
from cloud.store.errors import DeviceNotFound
from cloud.store.records import (
    DeviceRecord,
    EnrollmentCodeRecord,
    RefreshGrant,
    RotationKind,
    RotationOutcome,
    UserRecord,
)
from cloud.store.scripts.changelog import require_live_user
from cloud.store.tx import Tx

DEVICE_COLUMNS: Final = (
    "device_id, user_id, platform, app_version, last_seq, skew_ms, revoked, created_at, last_seen_at,"
    " lineage_id"
)


def device_record(row: Sequence[Any]) -> DeviceRecord:
    return DeviceRecord(
        device_id=row[0],
        user_id=row[1],
        platform=row[2],
        app_version=row[3],
        last_seq=row[4],
        skew_ms=row[5],
        revoked=bool(row[6]),
        created_at=row[7],
        last_seen_at=row[8],
        lineage_id=row[9],
    )


def user_record(row: Sequence[Any]) -> UserRecord:
    return UserRecord(
        user_id=row[0], external_ref=row[1], version=row[2], created_at=row[3], erased_at=row[4]
    )


def revoke(tx: Tx, device_id: str, now: int) -> Sequence[Any] | None:
    """Revoke the device and its refresh tokens; the device row, or ``None`` if there is none."""
    row: Sequence[Any] | None = tx.execute(
        "UPDATE devices SET revoked = 1, revoked_at = COALESCE(revoked_at, ?)"  # noqa: S608
        f" WHERE device_id = ? RETURNING {DEVICE_COLUMNS}",
        (now, device_id),
    ).fetchone()
    if row is not None:
        tx.execute(
            "UPDATE refresh_tokens SET revoked_at = ?, successor = NULL"
            " WHERE device_id = ? AND revoked_at IS NULL",
            (now, device_id),
        )
    return row


def create_user(tx: Tx, user_id: str, external_ref: str | None, now: int) -> UserRecord:
    tx.execute(
        "INSERT INTO users (user_id, external_ref, version, created_at) VALUES (?, ?, 0, ?)",
        (user_id, external_ref, now),
    )
    return UserRecord(user_id=user_id, external_ref=external_ref, version=0, created_at=now)


def get_user(tx: Tx, user_id: str) -> UserRecord | None:
    row = tx.execute(
        "SELECT user_id, external_ref, version, created_at, erased_at FROM users WHERE user_id = ?",
        (user_id,),
    ).fetchone()
    return None if row is None else user_record(row)


def list_users(tx: Tx) -> list[UserRecord]:
    rows = tx.execute(
        "SELECT user_id, external_ref, version, created_at, erased_at FROM users ORDER BY created_at, user_id"
    )
    return [user_record(r) for r in rows]


def enrollment_codes(tx: Tx, user_id: str) -> list[EnrollmentCodeRecord]:
    rows = tx.execute(
        "SELECT code_hash, user_id, expires_at, created_at, used_at, device_id FROM enrollment_codes"
        " WHERE user_id = ? ORDER BY created_at, code_hash",
        (user_id,),
    )
    return [
        EnrollmentCodeRecord(
            code_hash=r[0], user_id=r[1], expires_at=r[2], created_at=r[3], used_at=r[4], device_id=r[5]
        )
        for r in rows
    ]


def create_enrollment_code(tx: Tx, user_id: str, code_hash: str, expires_at: int, now: int) -> None:
    require_live_user(tx, user_id)
    tx.execute(
        "INSERT INTO enrollment_codes (code_hash, user_id, expires_at, created_at) VALUES (?, ?, ?, ?)",
        (code_hash, user_id, expires_at, now),
    )


def _enrollment_code(tx: Tx, code_hash: str) -> EnrollmentCode | None:
    row = tx.execute(
        "SELECT user_id, expires_at, used_at FROM enrollment_codes WHERE code_hash = ?", (code_hash,)
    ).fetchone()
    return None if row is None else EnrollmentCode(user_id=row[0], expires_at=row[1], used_at=row[2])


def enroll_device(
    tx: Tx,
    *,
    code_hash: str,
    device_id: str,
    platform: str,
    app_version: str,
    refresh: RefreshGrant,
    now: int,
    replaces_device_id: str | None = None,
) -> DeviceRecord:
    """Spend the code, create the device (in its lineage) and its first refresh token; raises the
    named refusal of :func:`judge_enrollment` and changes nothing then."""
    code = _enrollment_code(tx, code_hash)
    if code is not None:
        # Lock the code's user, then read the code again: of two enrollments racing with one code
        # (on two API processes), the second sees it spent.
        tx.lock_user(code.user_id)
        code = _enrollment_code(tx, code_hash)
    replaced = None
    if replaces_device_id is not None:
        old = tx.execute(
            "SELECT d.user_id, d.lineage_id, c.lineage_id FROM devices d"
            " LEFT JOIN closed_lineages c ON c.lineage_id = d.lineage_id WHERE d.device_id = ?",
            (replaces_device_id,),
        ).fetchone()
        replaced = (
            None
            if old is None
            else ReplacedDevice(user_id=old[0], lineage_id=old[1], lineage_closed=old[2] is not None)
        )
    lineage_id = judge_enrollment(
        code, device_id=device_id, replaces_device_id=replaces_device_id, replaced=replaced, now=now
    )
    assert code is not None  # judge_enrollment refuses a missing code
    user_id = code.user_id
    if replaces_device_id is not None:
        # A lineage has one live device: the replaced one (possibly revoked already by an
        # earlier re-enrollment whose reply was lost) and any such orphan stop here.
        members = tx.execute(
            "SELECT device_id FROM devices WHERE lineage_id = ? AND revoked = 0", (lineage_id,)
        ).fetchall()
        for (member,) in members:
            revoke(tx, member, now)
    tx.execute(
        "UPDATE enrollment_codes SET used_at = ?, device_id = ? WHERE code_hash = ?",
        (now, device_id, code_hash),
    )
    tx.execute(
        "INSERT INTO devices (device_id, user_id, platform, app_version, created_at, last_seen_at,"
        " lineage_id, replaces_device_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (device_id, user_id, platform, app_version, now, now, lineage_id, replaces_device_id),
    )
    tx.execute(
        "INSERT INTO refresh_tokens (token_hash, device_id, issued_at, expires_at) VALUES (?, ?, ?, ?)",
        (refresh.token_hash, device_id, now, refresh.expires_at),
    )
    return DeviceRecord(
        device_id=device_id,
        user_id=user_id,
        platform=platform,
        app_version=app_version,
        last_seq=0,
        skew_ms=0,
        revoked=False,
        created_at=now,
        last_seen_at=now,
        lineage_id=lineage_id,
    )


def get_device(tx: Tx, device_id: str) -> DeviceRecord | None:
    row = tx.execute(
        f"SELECT {DEVICE_COLUMNS} FROM devices WHERE device_id = ?",  # noqa: S608 (constant columns)
        (device_id,),
    ).fetchone()
    return None if row is None else device_record(row)


def list_devices(tx: Tx, user_id: str | None = None) -> list[DeviceRecord]:
    if user_id is None:
        rows = tx.execute(
            f"SELECT {DEVICE_COLUMNS} FROM devices ORDER BY created_at, device_id"  # noqa: S608
        )
    else:
        rows = tx.execute(
            f"SELECT {DEVICE_COLUMNS} FROM devices WHERE user_id = ?"  # noqa: S608
            " ORDER BY created_at, device_id",
            (user_id,),
        )
    return [device_record(r) for r in rows]


def revoke_device(tx: Tx, device_id: str, now: int, *, stolen: bool = False) -> DeviceRecord:
    """Revoke the device and its refresh tokens; ``stolen`` also closes its lineage."""
    row = revoke(tx, device_id, now)
    if row is None:
        raise DeviceNotFound(f"no device {device_id}")
    record = device_record(row)
    if stolen:
        tx.execute(
            "INSERT INTO closed_lineages (lineage_id, closed_at, device_id) VALUES (?, ?, ?)"
            " ON CONFLICT (lineage_id) DO NOTHING",
            (record.lineage_id, now, device_id),
        )
    return record


def rotate_refresh(
    tx: Tx,
    *,
    device_id: str,
    presented_hash: str,
    successor: RefreshGrant,
    cached_successor: bytes,
    grace_ms: int,
    now: int,
) -> RotationOutcome:
    """Rotate, replay or refuse a presented refresh token (:func:`judge_rotation` decides)."""
    tx.lock_device(device_id)
    device = tx.execute("SELECT revoked FROM devices WHERE device_id = ?", (device_id,)).fetchone()
    row = tx.execute(
        "SELECT expires_at, spent_at, replaced_by, successor, revoked_at FROM refresh_tokens"
        " WHERE token_hash = ? AND device_id = ?",
        (presented_hash, device_id),
    ).fetchone()
    token = None
    nxt = None
    if row is not None:
        expires_at, spent_at, replaced_by, cached, revoked_at = row
        token = PresentedToken(
            expires_at=expires_at,
            spent_at=spent_at,
            revoked_at=revoked_at,
            has_cached_answer=cached is not None,
        )
        if spent_at is not None:
            found = tx.execute(
                "SELECT spent_at, revoked_at, expires_at FROM refresh_tokens"
                " WHERE token_hash = ? AND device_id = ?",
                (replaced_by, device_id),
            ).fetchone()
            nxt = (
                None
                if found is None
                else SuccessorToken(spent_at=found[0], revoked_at=found[1], expires_at=found[2])
            )
    verdict = judge_rotation(
        device_revoked=None if device is None else bool(device[0]),
        token=token,
        successor=nxt,
        grace_ms=grace_ms,
        now=now,
    )
    if verdict is Rotation.INVALID:
        return RotationOutcome(kind=RotationKind.INVALID)
    if verdict is Rotation.DEVICE_REVOKED:
        return RotationOutcome(kind=RotationKind.DEVICE_REVOKED)
    if verdict is Rotation.ROTATED:
        # The predecessor's cached answer is useless once its successor is spent: drop it.
        tx.execute(
            "UPDATE refresh_tokens SET successor = NULL WHERE device_id = ? AND successor IS NOT NULL",
            (device_id,),
        )
        tx.execute(
            "UPDATE refresh_tokens SET spent_at = ?, replaced_by = ?, successor = ? WHERE token_hash = ?",
            (now, successor.token_hash, cached_successor, presented_hash),
        )
        tx.execute(
            "INSERT INTO refresh_tokens (token_hash, device_id, issued_at, expires_at) VALUES (?, ?, ?, ?)",
            (successor.token_hash, device_id, now, successor.expires_at),
        )
        return RotationOutcome(kind=RotationKind.ROTATED)
    if verdict is Rotation.REUSED:
        # A spent token coming back after its successor was used may have been stolen: nothing of
        # this device's stays valid.
        tx.execute(
            "UPDATE refresh_tokens SET revoked_at = COALESCE(revoked_at, ?), successor = NULL"
            " WHERE device_id = ?",
            (now, device_id),
        )
        return RotationOutcome(kind=RotationKind.REUSED)
    assert row is not None  # a replay has a token
    replaced_by, cached = row[2], row[3]
    if replaced_by != successor.token_hash:
        # The derivation key changed since the rotation: the successor derived now is not the
        # stored one. Nobody used the stored one, so it is re-keyed in place.
        tx.execute(
            "UPDATE refresh_tokens SET token_hash = ? WHERE token_hash = ?",
            (successor.token_hash, replaced_by),
        )
        tx.execute(
            "UPDATE refresh_tokens SET replaced_by = ? WHERE token_hash = ?",
            (successor.token_hash, presented_hash),
        )
    return RotationOutcome(
        kind=RotationKind.REPLAYED,
        cached_successor=bytes(cached),
        reissue_access=verdict is Rotation.REPLAYED_NEW_ACCESS,
    )
