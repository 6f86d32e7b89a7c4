"""Operator accounts, their sessions and the auth audit (``cloud/domain/operators``).

Every change to an account or a session writes its ``auth_audit`` row in the same transaction.
"""

from __future__ import annotations

from typing import Any, Final

from cloud.store.errors import (
    BootstrapClosed,
    LastAdmin,
    OperatorExists,
    OperatorNotFound,
    ServiceKeyNotFound,
)
from cloud.store.records import (
    AuthEventRecord,
    LoginFailure,
    OperatorRecord,
    OperatorRole,
    OperatorSessionRecord,
    ServiceKeyRecord,
)
from cloud.store.tx import Tx

_OPERATOR_COLUMNS: Final = (
    "operator_id, username, password_hash, role, created_at, disabled_at, failed_logins, locked_until"
)
_JOINED_OPERATOR_COLUMNS: Final = ", ".join("o." + c.strip() for c in _OPERATOR_COLUMNS.split(","))
_AUDIT_COLUMNS: Final = "audit_id, at, event, username, operator_id, actor, address, detail"


class AuthEvent:
    """The events of the auth audit."""

    BOOTSTRAP = "bootstrap"
    OPERATOR_CREATED = "operator_created"
    LOGIN_SUCCEEDED = "login_succeeded"
    LOGIN_FAILED = "login_failed"
    ACCOUNT_LOCKED = "account_locked"
    LOGOUT = "logout"
    ROLE_CHANGED = "role_changed"
    OPERATOR_DISABLED = "operator_disabled"
    KEY_CREATED = "service_key_created"
    KEY_REVOKED = "service_key_revoked"


def _operator(row: Any) -> OperatorRecord:
    return OperatorRecord(
        operator_id=row[0],
        username=row[1],
        password_hash=row[2],
        role=OperatorRole(row[3]),
        created_at=row[4],
        disabled_at=row[5],
        failed_logins=row[6],
        locked_until=row[7],
    )


def _event(row: Any) -> AuthEventRecord:
    return AuthEventRecord(
        audit_id=row[0],
        at=row[1],
        event=row[2],
        username=row[3],
        operator_id=row[4],
        actor=row[5],
        address=row[6],
        detail=row[7],
    )


def audit(
    tx: Tx,
    event: str,
    username: str,
    now: int,
    *,
    operator_id: str | None = None,
    actor: str | None = None,
    address: str | None = None,
    detail: str | None = None,
) -> None:
    tx.execute(
        "INSERT INTO auth_audit (at, event, username, operator_id, actor, address, detail)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (now, event, username, operator_id, actor, address, detail),
    )


def create_operator(
    tx: Tx, operator: OperatorRecord, *, actor: str, address: str | None, first: bool = False
) -> OperatorRecord:
    """Insert the account and its audit row. ``first``: only while no account exists (bootstrap)."""
    if first and tx.execute("SELECT 1 FROM operators LIMIT 1").fetchone() is not None:
        raise BootstrapClosed("an operator account exists; the first admin was created already")
    inserted = tx.execute(
        f"INSERT INTO operators ({_OPERATOR_COLUMNS}) VALUES (?, ?, ?, ?, ?, NULL, 0, 0)"  # noqa: S608 (constant columns)
        " ON CONFLICT (username) DO NOTHING RETURNING operator_id",
        (operator.operator_id, operator.username, operator.password_hash, operator.role, operator.created_at),
    ).fetchone()
    if inserted is None:
        raise OperatorExists(f"an operator named {operator.username!r} exists")
    event = AuthEvent.BOOTSTRAP if first else AuthEvent.OPERATOR_CREATED
    audit(
        tx,
        event,
        operator.username,
        operator.created_at,
        operator_id=operator.operator_id,
        actor=actor,
        address=address,
        detail=f"role={operator.role}",
    )
    return operator


def get_operator(tx: Tx, username: str) -> OperatorRecord | None:
    sql = f"SELECT {_OPERATOR_COLUMNS} FROM operators WHERE username = ?"  # noqa: S608 (constant columns)
    row = tx.execute(sql, (username,)).fetchone()
    return None if row is None else _operator(row)


def list_operators(tx: Tx) -> list[OperatorRecord]:
    sql = f"SELECT {_OPERATOR_COLUMNS} FROM operators ORDER BY created_at, username"  # noqa: S608 (constant columns)
    rows = tx.execute(sql)
    return [_operator(r) for r in rows]


def login_succeeded(
    tx: Tx, operator: OperatorRecord, session: OperatorSessionRecord, address: str | None
) -> None:
    """Start the session, clear the failure count, audit the login."""
    tx.execute(
        "UPDATE operators SET failed_logins = 0, locked_until = 0 WHERE operator_id = ?",
        (operator.operator_id,),
    )
    tx.execute(
        "INSERT INTO operator_sessions (session_hash, operator_id, created_at, expires_at, revoked_at)"
        " VALUES (?, ?, ?, ?, NULL)",
        (session.session_hash, session.operator_id, session.created_at, session.expires_at),
    )
    audit(
        tx,
        AuthEvent.LOGIN_SUCCEEDED,
        operator.username,
        session.created_at,
        operator_id=operator.operator_id,
        address=address,
    )


def login_failed(
    tx: Tx,
    username: str,
    operator_id: str | None,
    address: str | None,
    now: int,
    *,
    window_start: int,
    max_failures: int,
    locked_until: int,
    reason: str,
) -> LoginFailure:
    """Audit a failed login; count it on the account, if there is one, and lock it at
    ``max_failures``. The failures returned are those of the *name* since ``window_start``, the
    same whether an account has it or not."""
    audit(tx, AuthEvent.LOGIN_FAILED, username, now, operator_id=operator_id, address=address, detail=reason)
    locked = False
    if operator_id is not None:
        # Failures while the account is locked neither count nor extend the lock: once it ends,
        # the account has its full count of tries again.
        row = tx.execute(
            "UPDATE operators SET failed_logins = failed_logins + 1"
            " WHERE operator_id = ? AND locked_until <= ? RETURNING failed_logins",
            (operator_id, now),
        ).fetchone()
        if row is not None and row[0] >= max_failures:
            tx.execute(
                "UPDATE operators SET failed_logins = 0, locked_until = ? WHERE operator_id = ?",
                (locked_until, operator_id),
            )
            audit(
                tx,
                AuthEvent.ACCOUNT_LOCKED,
                username,
                now,
                operator_id=operator_id,
                address=address,
                detail=f"until={locked_until}",
            )
            locked = True
    count = tx.execute(
        "SELECT COUNT(*) FROM auth_audit WHERE username = ? AND event = ? AND at >= ?",
        (username, AuthEvent.LOGIN_FAILED, window_start),
    ).fetchone()[0]
    return LoginFailure(recent_failures=int(count), locked=locked)


def session_operator(tx: Tx, session_hash: str, now: int) -> OperatorRecord | None:
    """The operator of a live session: not revoked, not expired, the account not disabled."""
    row = tx.execute(
        f"SELECT {_JOINED_OPERATOR_COLUMNS}"  # noqa: S608 (constant columns)
        " FROM operator_sessions s JOIN operators o ON o.operator_id = s.operator_id"
        " WHERE s.session_hash = ? AND s.revoked_at IS NULL AND s.expires_at > ? AND o.disabled_at IS NULL",
        (session_hash, now),
    ).fetchone()
    return None if row is None else _operator(row)


def end_session(tx: Tx, session_hash: str, now: int, address: str | None) -> bool:
    """Revoke one session (a logout); ``False`` if it was not live."""
    row = tx.execute(
        "UPDATE operator_sessions SET revoked_at = ? WHERE session_hash = ? AND revoked_at IS NULL"
        " RETURNING operator_id",
        (now, session_hash),
    ).fetchone()
    if row is None:
        return False
    name = tx.execute("SELECT username FROM operators WHERE operator_id = ?", (row[0],)).fetchone()
    audit(tx, AuthEvent.LOGOUT, name[0], now, operator_id=row[0], address=address)
    return True


def _keep_an_admin(tx: Tx, before: OperatorRecord) -> None:
    # Row locks are not needed: SQLite serialises writers, and on PostgreSQL the worst case of two
    # admins demoting each other at once is the same as one admin demoting the other.
    if before.role != OperatorRole.ADMIN or before.disabled_at is not None:
        return
    others = tx.execute(
        "SELECT COUNT(*) FROM operators WHERE role = ? AND disabled_at IS NULL AND operator_id <> ?",
        (OperatorRole.ADMIN, before.operator_id),
    ).fetchone()[0]
    if not others:
        raise LastAdmin(f"{before.username!r} is the last enabled admin")


def set_role(
    tx: Tx, username: str, role: OperatorRole, *, actor: str, address: str | None, now: int
) -> OperatorRecord:
    before = get_operator(tx, username)
    if before is None:
        raise OperatorNotFound(f"no operator named {username!r}")
    if role != OperatorRole.ADMIN:
        _keep_an_admin(tx, before)
    tx.execute("UPDATE operators SET role = ? WHERE operator_id = ?", (role, before.operator_id))
    audit(
        tx,
        AuthEvent.ROLE_CHANGED,
        username,
        now,
        operator_id=before.operator_id,
        actor=actor,
        address=address,
        detail=f"{before.role}->{role}",
    )
    after = get_operator(tx, username)
    assert after is not None
    return after


def disable(tx: Tx, username: str, *, actor: str, address: str | None, now: int) -> OperatorRecord:
    """Disable the account and end its sessions (idempotent)."""
    before = get_operator(tx, username)
    if before is None:
        raise OperatorNotFound(f"no operator named {username!r}")
    if before.disabled_at is None:
        _keep_an_admin(tx, before)
        tx.execute("UPDATE operators SET disabled_at = ? WHERE operator_id = ?", (now, before.operator_id))
        tx.execute(
            "UPDATE operator_sessions SET revoked_at = ? WHERE operator_id = ? AND revoked_at IS NULL",
            (now, before.operator_id),
        )
        audit(
            tx,
            AuthEvent.OPERATOR_DISABLED,
            username,
            now,
            operator_id=before.operator_id,
            actor=actor,
            address=address,
        )
    after = get_operator(tx, username)
    assert after is not None
    return after


def auth_events(tx: Tx, *, after: int | None, limit: int) -> list[AuthEventRecord]:
    """Newest first, by ``audit_id``; ``limit + 1`` rows when there is a next page."""
    if after is None:
        rows = tx.execute(
            f"SELECT {_AUDIT_COLUMNS} FROM auth_audit ORDER BY audit_id DESC LIMIT ?",  # noqa: S608 (constant columns)
            (limit + 1,),
        )
    else:
        rows = tx.execute(
            f"SELECT {_AUDIT_COLUMNS} FROM auth_audit WHERE audit_id < ? ORDER BY audit_id DESC LIMIT ?",  # noqa: S608
            (after, limit + 1),
        )
    return [_event(r) for r in rows]


_KEY_COLUMNS: Final = "key_id, name, secret_hash, role, created_at, created_by, revoked_at"


def _key(row: Any) -> ServiceKeyRecord:
    return ServiceKeyRecord(
        key_id=row[0],
        name=row[1],
        secret_hash=row[2],
        role=OperatorRole(row[3]),
        created_at=row[4],
        created_by=row[5],
        revoked_at=row[6],
    )


def create_service_key(tx: Tx, key: ServiceKeyRecord, *, address: str | None) -> ServiceKeyRecord:
    tx.execute(
        f"INSERT INTO service_keys ({_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, NULL)",  # noqa: S608 (constant columns)
        (key.key_id, key.name, key.secret_hash, key.role, key.created_at, key.created_by),
    )
    audit(
        tx,
        AuthEvent.KEY_CREATED,
        key.name,
        key.created_at,
        actor=key.created_by,
        address=address,
        detail=f"key={key.key_id} role={key.role}",
    )
    return key


def service_key(tx: Tx, key_id: str) -> ServiceKeyRecord | None:
    sql = f"SELECT {_KEY_COLUMNS} FROM service_keys WHERE key_id = ?"  # noqa: S608 (constant columns)
    row = tx.execute(sql, (key_id,)).fetchone()
    return None if row is None else _key(row)


def list_service_keys(tx: Tx) -> list[ServiceKeyRecord]:
    sql = f"SELECT {_KEY_COLUMNS} FROM service_keys ORDER BY created_at, key_id"  # noqa: S608 (constant columns)
    return [_key(r) for r in tx.execute(sql)]


def revoke_service_key(tx: Tx, key_id: str, *, actor: str, address: str | None, now: int) -> ServiceKeyRecord:
    """Revoke a key at once (idempotent)."""
    before = service_key(tx, key_id)
    if before is None:
        raise ServiceKeyNotFound(f"no service key {key_id}")
    if before.revoked_at is None:
        tx.execute("UPDATE service_keys SET revoked_at = ? WHERE key_id = ?", (now, key_id))
        audit(
            tx, AuthEvent.KEY_REVOKED, before.name, now, actor=actor, address=address, detail=f"key={key_id}"
        )
    after = service_key(tx, key_id)
    assert after is not None
    return after
