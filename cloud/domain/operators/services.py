"""Operator accounts: bootstrap, login and logout, who a request comes from, account management.

A request to the admin API carries one of:

- an operator's session token as ``Authorization: Bearer eco_…`` (``ecs``, scripts);
- the ``ec_session`` cookie a login set (the dashboard), with ``X-CSRF-Token`` on every write;
- the static ``ADMIN_TOKEN``, in development only: production refuses it everywhere but the
  bootstrap of the first admin.

Sessions are looked up on every request, so a logout, a disabled account or an expiry acts at
once; the role is read with the session, so a role change does too.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from collections.abc import Callable

import msgspec

from cloud.clock import now_ms
from cloud.domain.admin.paging import decode_cursor, encode_cursor, next_key
from cloud.domain.devices.tokens import hash_secret
from cloud.domain.operators.passwords import Passwords
from cloud.domain.operators.rules import (
    KEY_PREFIX,
    SAFE_METHODS,
    SESSION_PREFIX,
    csrf_token,
    login_delay_s,
    split_key,
)
from cloud.domain.operators.schemas import (
    AuthEventOut,
    AuthEventsPage,
    Bootstrap,
    CreateOperator,
    CreateServiceKey,
    KeyRole,
    OperatorOut,
    OperatorsOut,
    ServiceKeyCreated,
    ServiceKeyOut,
    ServiceKeysOut,
    SessionOut,
)
from cloud.errors import AdminUnauthorized, CsrfFailed, LoginFailed
from cloud.request_context import ADMIN_ACTOR
from cloud.settings import OperatorSettings
from cloud.store.protocol import Store
from cloud.store.records import OperatorRecord, OperatorRole, OperatorSessionRecord, ServiceKeyRecord

STATIC_TOKEN_ACTOR = ADMIN_ACTOR
"""The actor of the development token: ``admin``, as before operator accounts existed."""


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """Who an admin request comes from."""

    actor: str
    role: OperatorRole
    session_hash: str | None = None
    key_id: str | None = None
    """A service key's id: its requests are rate-limited per key."""


def operator_out(o: OperatorRecord, now: int) -> OperatorOut:
    return OperatorOut(
        username=o.username,
        role=o.role,
        created_at=o.created_at,
        disabled=o.disabled_at is not None,
        locked_until=o.locked_until if o.locked_until > now else None,
    )


def _bearer(authorization: str | None) -> str | None:
    if not authorization or authorization[:7].lower() != "bearer ":
        return None
    return authorization[7:].strip() or None


class OperatorService:
    def __init__(
        self,
        store: Store,
        settings: OperatorSettings,
        *,
        admin_token: str,
        production: bool,
        passwords: Passwords | None = None,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._store = store
        self._settings = settings
        self._admin_token = admin_token.encode("utf-8")
        self._production = production
        self._passwords = passwords or Passwords()
        self._clock = clock

    def close(self) -> None:
        self._passwords.close()

    def _is_static_token(self, token: str) -> bool:
        return hmac.compare_digest(token.encode("utf-8"), self._admin_token)

    # --- who is asking --------------------------------------------------------------------

    async def authenticate(
        self, *, authorization: str | None, cookie: str | None, csrf: str | None, method: str
    ) -> Principal:
        """The principal of an admin request, or ``AdminUnauthorized`` / ``CsrfFailed``."""
        token = _bearer(authorization)
        if token is not None:
            if token.startswith(SESSION_PREFIX):
                return await self._session(token)
            if token.startswith(KEY_PREFIX):
                return await self._service_key(token)
            if self._is_static_token(token):
                if self._production:
                    raise AdminUnauthorized(
                        "the static admin token is for development; sign in (POST /v1/admin/login)"
                    )
                return Principal(actor=STATIC_TOKEN_ACTOR, role=OperatorRole.ADMIN)
            raise AdminUnauthorized()
        if cookie:
            # A browser sends the cookie on any request to this origin, whoever made the page:
            # a write must also prove it can read the cookie's CSRF token (double submit).
            if method not in SAFE_METHODS and not (
                csrf and hmac.compare_digest(csrf.encode("utf-8"), csrf_token(cookie).encode("utf-8"))
            ):
                raise CsrfFailed()
            return await self._session(cookie)
        raise AdminUnauthorized()

    async def still_live(self, principal: Principal) -> bool:
        """Whether an admitted credential still holds (a long-lived stream asks between events)."""
        if principal.session_hash is not None:
            return await self._store.session_operator(principal.session_hash, self._clock()) is not None
        if principal.key_id is not None:
            key = await self._store.service_key(principal.key_id)
            return key is not None and key.revoked_at is None
        return True

    async def _service_key(self, token: str) -> Principal:
        parts = split_key(token)
        key = None if parts is None else await self._store.service_key(parts[0])
        if (
            parts is None
            or key is None
            or key.revoked_at is not None
            or not hmac.compare_digest(hash_secret(parts[1]).encode(), key.secret_hash.encode())
        ):
            raise AdminUnauthorized("unknown or revoked service key")
        return Principal(actor=f"service:{key.name}", role=key.role, key_id=key.key_id)

    async def _session(self, token: str) -> Principal:
        session_hash = hash_secret(token)
        operator = await self._store.session_operator(session_hash, self._clock())
        if operator is None:
            raise AdminUnauthorized("the session ended, expired or never existed; sign in again")
        return Principal(actor=f"operator:{operator.username}", role=operator.role, session_hash=session_hash)

    # --- signing in and out -----------------------------------------------------------------

    async def bootstrap(self, authorization: str | None, data: Bootstrap, address: str | None) -> OperatorOut:
        """The first admin account, with the static admin token (production's too), once."""
        token = _bearer(authorization)
        if token is None or not self._is_static_token(token):
            raise AdminUnauthorized()
        now = self._clock()
        record = self._new_record(
            data.username, await self._passwords.hash(data.password), OperatorRole.ADMIN, now
        )
        created = await self._store.create_operator(
            record, actor=STATIC_TOKEN_ACTOR, address=address, first=True
        )
        return operator_out(created, now)

    async def login(self, username: str, password: str, address: str | None) -> SessionOut:
        """Verify, then start a session; every refusal is the same ``LoginFailed``, after a delay
        that grows with the name's recent failures."""
        operator = await self._store.get_operator(username)
        now = self._clock()
        reason = None
        if operator is None:
            await self._passwords.verify_nobody(password)
            reason = "unknown"
        elif operator.disabled_at is not None:
            await self._passwords.verify_nobody(password)
            reason = "disabled"
        elif operator.locked_until > now:
            await self._passwords.verify_nobody(password)
            reason = "locked"
        elif not await self._passwords.verify(operator.password_hash, password):
            reason = "password"
        if reason is not None or operator is None:
            failure = await self._store.login_failed(
                username,
                None if operator is None else operator.operator_id,
                address,
                now,
                window_start=now - self._settings.lockout_s * 1000,
                max_failures=self._settings.max_failures,
                locked_until=now + self._settings.lockout_s * 1000,
                reason=reason or "unknown",
            )
            await asyncio.sleep(login_delay_s(failure.recent_failures))
            raise LoginFailed()
        token = SESSION_PREFIX + secrets.token_urlsafe(32)
        session = OperatorSessionRecord(
            session_hash=hash_secret(token),
            operator_id=operator.operator_id,
            created_at=now,
            expires_at=now + self._settings.session_ttl_s * 1000,
        )
        await self._store.login_succeeded(operator, session, address)
        return SessionOut(
            token=token,
            csrf_token=csrf_token(token),
            expires_at=session.expires_at,
            username=operator.username,
            role=operator.role,
        )

    async def logout(self, principal: Principal, address: str | None) -> None:
        """End the request's session (nothing to end for the development token)."""
        if principal.session_hash is not None:
            await self._store.end_session(principal.session_hash, self._clock(), address)

    # --- accounts (admins) -------------------------------------------------------------------

    def _new_record(self, username: str, password_hash: str, role: OperatorRole, now: int) -> OperatorRecord:
        return OperatorRecord(
            operator_id="opr_" + secrets.token_hex(12),
            username=username,
            password_hash=password_hash,
            role=role,
            created_at=now,
            disabled_at=None,
            failed_logins=0,
            locked_until=0,
        )

    async def create(self, data: CreateOperator, actor: str, address: str | None) -> OperatorOut:
        now = self._clock()
        record = self._new_record(data.username, await self._passwords.hash(data.password), data.role, now)
        return operator_out(await self._store.create_operator(record, actor=actor, address=address), now)

    async def list(self) -> OperatorsOut:
        now = self._clock()
        return OperatorsOut(items=[operator_out(o, now) for o in await self._store.list_operators()])

    async def set_role(
        self, username: str, role: OperatorRole, actor: str, address: str | None
    ) -> OperatorOut:
        now = self._clock()
        changed = await self._store.set_operator_role(username, role, actor=actor, address=address, now=now)
        return operator_out(changed, now)

    async def disable(self, username: str, actor: str, address: str | None) -> OperatorOut:
        now = self._clock()
        return operator_out(
            await self._store.disable_operator(username, actor=actor, address=address, now=now), now
        )

    async def auth_events(self, cursor: str | None, limit: int) -> AuthEventsPage:
        after = None if cursor is None else int(decode_cursor(cursor, (int,))[0])
        rows = await self._store.page_auth_audit(after=after, limit=limit)
        key = next_key([(r.audit_id,) for r in rows], limit)
        return AuthEventsPage(
            items=[
                AuthEventOut(
                    audit_id=r.audit_id,
                    at=r.at,
                    event=r.event,
                    username=r.username,
                    actor=r.actor,
                    address=r.address,
                    detail=r.detail,
                )
                for r in rows[:limit]
            ],
            next_cursor=None if key is None else encode_cursor(key),
        )

    # --- service keys (admins) ----------------------------------------------------------------

    async def create_key(self, data: CreateServiceKey, actor: str, address: str | None) -> ServiceKeyCreated:
        """A new key, shown once. Rotating is creating the next key, moving the program to it and
        revoking this one: both work meanwhile."""
        now = self._clock()
        key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        record = ServiceKeyRecord(
            key_id=key_id,
            name=data.name,
            secret_hash=hash_secret(secret),
            role=OperatorRole(data.role),
            created_at=now,
            created_by=actor,
            revoked_at=None,
        )
        await self._store.create_service_key(record, address=address)
        return ServiceKeyCreated(
            key=f"{KEY_PREFIX}{key_id}_{secret}",
            key_id=key_id,
            name=data.name,
            role=data.role,
            created_at=now,
        )

    async def list_keys(self) -> ServiceKeysOut:
        return ServiceKeysOut(items=[_key_out(k) for k in await self._store.list_service_keys()])

    async def revoke_key(self, key_id: str, actor: str, address: str | None) -> ServiceKeyOut:
        revoked = await self._store.revoke_service_key(
            key_id, actor=actor, address=address, now=self._clock()
        )
        return _key_out(revoked)


def _key_out(k: ServiceKeyRecord) -> ServiceKeyOut:
    return ServiceKeyOut(
        key_id=k.key_id,
        name=k.name,
        role=KeyRole(k.role),
        created_at=k.created_at,
        created_by=k.created_by,
        revoked=k.revoked_at is not None,
    )
