"""Admin operations; each is one store call."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable

from cloud.clock import now_ms
from cloud.domain.admin.schemas import (
    DeviceOut,
    EnrollmentCodeCreated,
    NoticeCreated,
    UserCreated,
    UserViewOut,
)
from cloud.domain.devices.tokens import hash_secret
from cloud.errors import AdminUnauthorized
from cloud.settings import AuthSettings
from cloud.store.errors import UserNotFound
from cloud.store.protocol import Store
from cloud.store.records import DeviceRecord, wire_offer, wire_profile
from sync.messages import Notice


def device_out(d: DeviceRecord) -> DeviceOut:
    return DeviceOut(
        device_id=d.device_id,
        user_id=d.user_id,
        platform=d.platform,
        last_seq=d.last_seq,
        skew_ms=d.skew_ms,
        revoked=d.revoked,
        created_at=d.created_at,
        last_seen_at=d.last_seen_at,
        lineage_id=d.lineage_id,
    )


def new_enrollment_code() -> str:
    # 120 bits: unguessable, so an unsalted hash is enough to store it.
    return secrets.token_urlsafe(15)


class AdminService:
    def __init__(self, store: Store, auth: AuthSettings, clock: Callable[[], int] = now_ms) -> None:
        self._store = store
        self._auth = auth
        self._clock = clock
        self._admin_token = auth.admin_token.encode("utf-8")

    def check_token(self, authorization: str | None) -> None:
        """Constant-time check of ``Authorization: Bearer <ADMIN_TOKEN>``."""
        if not authorization or not authorization[:7].lower() == "bearer ":
            raise AdminUnauthorized()
        presented = authorization[7:].strip().encode("utf-8")
        if not hmac.compare_digest(presented, self._admin_token):
            raise AdminUnauthorized()

    async def create_user(self, external_ref: str | None) -> UserCreated:
        user = await self._store.create_user("usr_" + secrets.token_hex(12), external_ref, self._clock())
        return UserCreated(user_id=user.user_id)

    async def create_enrollment_code(self, user_id: str, ttl_s: int | None) -> EnrollmentCodeCreated:
        now = self._clock()
        code = new_enrollment_code()
        expires_at = now + (ttl_s if ttl_s is not None else self._auth.enrollment_code_ttl_s) * 1000
        await self._store.create_enrollment_code(user_id, hash_secret(code), expires_at, now)
        return EnrollmentCodeCreated(code=code, expires_at=expires_at)

    async def list_devices(self, user_id: str | None) -> list[DeviceOut]:
        """Every device, or the user's; raises ``UserNotFound`` for an unknown ``user_id`` (an
        empty list would read as "this user has no device")."""
        if user_id is not None and await self._store.get_user(user_id) is None:
            raise UserNotFound(f"no user {user_id}")
        return [device_out(d) for d in await self._store.list_devices(user_id)]

    async def revoke_device(self, device_id: str) -> DeviceOut:
        return device_out(await self._store.revoke_device(device_id, self._clock()))

    async def add_notice(self, user_id: str, kind: str, title: str, body: str) -> NoticeCreated:
        notice_id = "ntc_" + secrets.token_hex(12)
        version = await self._store.append_notice(
            user_id=user_id, notice_id=notice_id, kind=kind, title=title, body=body, now=self._clock()
        )
        return NoticeCreated(notice_id=notice_id, version=version)

    async def user_view(self, user_id: str) -> UserViewOut:
        view = await self._store.user_view(user_id)
        return UserViewOut(
            user_id=view.user.user_id,
            version=view.user.version,
            consent=view.consent,
            notices=[
                Notice(
                    version=n.version,
                    notice_id=n.notice_id,
                    kind=n.kind,
                    title=n.title,
                    body=n.body,
                    created_at=n.created_at,
                    acked=n.acked_at is not None,
                )
                for n in view.notices
            ],
            offers=[wire_offer(o) for o in view.offers],
            profile=None if view.profile is None else wire_profile(view.profile),
            aggregates=list(view.aggregates),
            devices=[device_out(d) for d in view.devices],
        )
