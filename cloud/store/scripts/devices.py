"""Users, enrollment, devices and refresh-token rotation: transaction scripts over :class:`Tx`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from cloud.errors import (
    DeviceNotFound,
    EnrollmentCodeExpired,
    EnrollmentCodeInvalid,
    EnrollmentCodeUsed,
    ReplacesDeviceInvalid,
    UserNotFound,
)
from cloud.store.records import DeviceRecord, RefreshGrant, RotationKind, RotationOutcome, UserRecord
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
    return UserRecord(user_id=row[0], external_ref=row[1], version=row[2], created_at=row[3])


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
        "SELECT user_id, external_ref, version, created_at FROM users WHERE user_id = ?", (user_id,)
    ).fetchone()
    return None if row is None else user_record(row)


def create_enrollment_code(tx: Tx, user_id: str, code_hash: str, expires_at: int, now: int) -> None:
    if tx.execute("SELECT 1 FROM users WHERE user_id = ?", (user_id,)).fetchone() is None:
        raise UserNotFound(f"no user {user_id}")
    tx.execute(
        "INSERT INTO enrollment_codes (code_hash, user_id, expires_at, created_at) VALUES (?, ?, ?, ?)",
        (code_hash, user_id, expires_at, now),
    )


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
    row = tx.execute(
        "SELECT user_id, expires_at, used_at FROM enrollment_codes WHERE code_hash = ?", (code_hash,)
    ).fetchone()
    if row is None:
        raise EnrollmentCodeInvalid()
    user_id, expires_at, used_at = row
    if used_at is not None:
        raise EnrollmentCodeUsed()
    if expires_at <= now:
        raise EnrollmentCodeExpired()
    lineage_id = device_id
    if replaces_device_id is not None:
        old = tx.execute(
            "SELECT user_id, lineage_id FROM devices WHERE device_id = ?",
            (replaces_device_id,),
        ).fetchone()
        if old is None or old[0] != user_id:
            raise ReplacesDeviceInvalid()
        lineage_id = old[1]
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


def revoke_device(tx: Tx, device_id: str, now: int) -> DeviceRecord:
    row = revoke(tx, device_id, now)
    if row is None:
        raise DeviceNotFound(f"no device {device_id}")
    return device_record(row)


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
    device = tx.execute("SELECT revoked FROM devices WHERE device_id = ?", (device_id,)).fetchone()
    token = tx.execute(
        "SELECT expires_at, spent_at, replaced_by, successor, revoked_at FROM refresh_tokens"
        " WHERE token_hash = ? AND device_id = ?",
        (presented_hash, device_id),
    ).fetchone()
    if device is None or token is None:
        return RotationOutcome(kind=RotationKind.INVALID)
    if device[0]:
        return RotationOutcome(kind=RotationKind.DEVICE_REVOKED)
    expires_at, spent_at, replaced_by, cached, revoked_at = token
    if spent_at is None:
        if revoked_at is not None or expires_at <= now:
            return RotationOutcome(kind=RotationKind.INVALID)
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
    nxt = tx.execute(
        "SELECT spent_at, revoked_at, expires_at FROM refresh_tokens WHERE token_hash = ? AND device_id = ?",
        (replaced_by, device_id),
    ).fetchone()
    # The most recently spent token, whose successor nobody has used: the device most
    # likely never received the reply that carried the successor (a lost reply followed by
    # any time offline), so it gets that successor, not a revocation.
    successor_unused = nxt is not None and nxt[0] is None and nxt[1] is None
    if revoked_at is None and successor_unused and cached is not None:
        if nxt[2] <= now:
            return RotationOutcome(kind=RotationKind.INVALID)  # the successor has expired
        if replaced_by != successor.token_hash:
            # The derivation key changed since the rotation: the successor derived now is
            # not the stored one. Nobody used the stored one, so it is re-keyed in place.
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
            reissue_access=now - spent_at > grace_ms,
        )
    # The successor was used (or the token is older still): a spent token coming back after
    # that may have been stolen, so nothing of this device's stays valid.
    tx.execute(
        "UPDATE refresh_tokens SET revoked_at = COALESCE(revoked_at, ?), successor = NULL"
        " WHERE device_id = ?",
        (now, device_id),
    )
    return RotationOutcome(kind=RotationKind.REUSED)
