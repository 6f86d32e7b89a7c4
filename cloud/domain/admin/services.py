"""Admin operations; each is one store call."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from typing import Final

from cloud.clock import now_ms
from cloud.domain.admin.paging import Key, Shape, decode_cursor, encode_cursor, next_key
from cloud.domain.admin.schemas import (
    EXPORT_SCHEMA_VERSION,
    DeviceOut,
    DevicesPage,
    EnrollmentCodeCreated,
    ErasureOut,
    EvaluationsPage,
    NoticeCreated,
    OffersPage,
    OutboxRowOut,
    OutboxRowsPage,
    PushTokenOut,
    ReviewOut,
    ReviewsPage,
    RevokeReason,
    TimelinePage,
    UserCreated,
    UserExport,
    UserOut,
    UsersPage,
    UserViewOut,
)
from cloud.domain.credit.services import evaluation_out, features_out
from cloud.domain.devices.tokens import hash_secret
from cloud.domain.offers.operations import payload_summary
from cloud.domain.offers.services import TOKEN_SUFFIX_CHARS, offer_out, push_attempt_out
from cloud.journal import RightsEvent, RightsJournal
from cloud.outbox.enqueue import OutboxDispatcher
from cloud.settings import AuthSettings
from cloud.store.errors import DeviceNotFound, UserNotFound
from cloud.store.protocol import Store
from cloud.store.records import (
    DeviceRecord,
    NoticeRecord,
    OutboxRecord,
    ReviewRecord,
    ReviewStatus,
    wire_offer,
    wire_profile,
)
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


def review_out(r: ReviewRecord) -> ReviewOut:
    return ReviewOut(
        review_id=r.review_id,
        user_id=r.user_id,
        offer_id=r.offer_id,
        device_id=r.device_id,
        note=r.note,
        status=ReviewStatus(r.status),
        created_at=r.created_at,
        closed_at=r.closed_at,
        closed_by=r.closed_by,
        resolution=r.resolution,
    )


def _notice(n: NoticeRecord) -> Notice:
    return Notice(
        version=n.version,
        notice_id=n.notice_id,
        kind=n.kind,
        title=n.title,
        body=n.body,
        created_at=n.created_at,
        acked=n.acked_at is not None,
    )


def outbox_row_out(row: OutboxRecord) -> OutboxRowOut:
    return OutboxRowOut(
        outbox_id=row.outbox_id,
        kind=row.kind,
        state=row.state,
        attempts=row.attempts,
        first_attempt=row.first_attempt,
        last_error=row.last_error,
        payload=payload_summary(row.payload),
        parent_id=row.parent_id,
        not_before=row.not_before,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


# The key of each list (cloud.store.scripts.lists), for its cursors.
_CREATED_AND_ID: Final[Shape] = (int, str)
_OUTBOX_KEY: Final[Shape] = (int,)
_TIMELINE_KEY: Final[Shape] = (int, str, str)


def _after(cursor: str | None, shape: Shape) -> Key | None:
    return None if cursor is None else decode_cursor(cursor, shape)


def _next_cursor(keys: list[Key], limit: int) -> str | None:
    key = next_key(keys, limit)
    return None if key is None else encode_cursor(key)


def new_enrollment_code() -> str:
    # 120 bits: unguessable, so an unsalted hash is enough to store it.
    return secrets.token_urlsafe(15)


class AdminService:
    def __init__(
        self,
        store: Store,
        auth: AuthSettings,
        clock: Callable[[], int] = now_ms,
        outbox: OutboxDispatcher | None = None,
        journal: RightsJournal | None = None,
    ) -> None:
        self._store = store
        self._journal = journal
        """Where erasures are also written, for a restore to replay."""
        self._auth = auth
        self._clock = clock
        self._outbox = outbox or OutboxDispatcher(None)

    async def create_user(self, external_ref: str | None) -> UserCreated:
        user = await self._store.create_user("usr_" + secrets.token_hex(12), external_ref, self._clock())
        return UserCreated(user_id=user.user_id)

    async def create_enrollment_code(self, user_id: str, ttl_s: int | None) -> EnrollmentCodeCreated:
        now = self._clock()
        code = new_enrollment_code()
        expires_at = now + (ttl_s if ttl_s is not None else self._auth.enrollment_code_ttl_s) * 1000
        await self._store.create_enrollment_code(user_id, hash_secret(code), expires_at, now)
        return EnrollmentCodeCreated(code=code, expires_at=expires_at)

    async def device(self, device_id: str) -> DeviceOut:
        """Raises ``DeviceNotFound`` for an unknown id."""
        device = await self._store.get_device(device_id)
        if device is None:
            raise DeviceNotFound(f"no device {device_id}")
        return device_out(device)

    async def revoke_device(self, device_id: str, reason: RevokeReason = RevokeReason.OTHER) -> DeviceOut:
        stolen = reason is RevokeReason.STOLEN
        return device_out(await self._store.revoke_device(device_id, self._clock(), stolen=stolen))

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
            erased_at=view.user.erased_at,
            consent=view.consent,
            notices=[_notice(n) for n in view.notices],
            offers=[wire_offer(o) for o in view.offers],
            profile=None if view.profile is None else wire_profile(view.profile),
            aggregates=list(view.aggregates),
            devices=[device_out(d) for d in view.devices],
        )

    async def export_user(self, user_id: str, *, actor: str, address: str | None) -> UserExport:
        """Everything held about the user as one document; the export is audited."""
        now = self._clock()
        held = await self._store.export_user(user_id, actor=actor, address=address, now=now)
        view, features = held.view, held.credit_features
        return UserExport(
            schema_version=EXPORT_SCHEMA_VERSION,
            exported_at=now,
            user=UserOut(
                user_id=view.user.user_id,
                external_ref=view.user.external_ref,
                version=view.user.version,
                created_at=view.user.created_at,
                erased_at=view.user.erased_at,
            ),
            profile=None if view.profile is None else wire_profile(view.profile),
            consent=view.consent,
            devices=[device_out(d) for d in view.devices],
            offers=[wire_offer(o) for o in view.offers],
            audit=list(held.audit),
            evaluations=[evaluation_out(e) for e in held.evaluations],
            credit_features=None if features is None else features_out(features),
            notices=[_notice(n) for n in view.notices],
            aggregates=list(view.aggregates),
            push_tokens=[
                PushTokenOut(
                    device_id=t.device_id,
                    token_suffix=t.token[-TOKEN_SUFFIX_CHARS:],
                    platform=t.platform,
                    active=t.active,
                    updated_at=t.updated_at,
                )
                for t in held.push_tokens
            ],
            pushes=[push_attempt_out(p) for p in held.pushes],
            reviews=[review_out(r) for r in held.reviews],
        )

    async def erase_user(self, user_id: str, *, actor: str, address: str | None) -> ErasureOut:
        """Erase the user (``docs/privacy.md``); the ping that asks the devices to sync now is
        enqueued after the commit."""
        done = await self._store.erase_user(user_id, actor=actor, address=address, now=self._clock())
        if self._journal is not None and not done.already_erased:
            event = RightsEvent(
                kind="user_erased", at=done.erased_at, recorded_at=done.erased_at, user_id=user_id
            )
            await asyncio.to_thread(self._journal.append, [event])
        await self._outbox.dispatch(done.outbox)
        return ErasureOut(
            user_id=done.user_id,
            erased_at=done.erased_at,
            already_erased=done.already_erased,
            devices_to_wipe=done.devices_to_wipe,
            offers_withdrawn=done.offers_withdrawn,
            evaluations_cancelled=done.evaluations_cancelled,
            pushes_cancelled=done.pushes_cancelled,
        )

    # --- reviews of automated decisions ------------------------------------------------------

    async def reviews(self, *, status: ReviewStatus | None, cursor: str | None, limit: int) -> ReviewsPage:
        rows = await self._store.page_reviews(
            status=None if status is None else status.value,
            after=_after(cursor, _CREATED_AND_ID),
            limit=limit,
        )
        return ReviewsPage(
            items=[review_out(r) for r in rows[:limit]],
            next_cursor=_next_cursor([(r.created_at, r.review_id) for r in rows], limit),
        )

    async def close_review(self, review_id: str, resolution: str, *, actor: str) -> ReviewOut:
        """Close the review; the user is sent the resolution (pushed after the commit)."""
        closed = await self._store.close_review(
            review_id, resolution=resolution, actor=actor, now=self._clock()
        )
        await self._outbox.dispatch(closed.outbox)
        return review_out(closed.review)

    # --- the lists: newest first, ``limit`` rows a page, a cursor to the next -----------------

    async def _require_user(self, user_id: str | None) -> None:
        # A filter naming no user is an error, not an empty page ("this user has nothing").
        if user_id is not None and await self._store.get_user(user_id) is None:
            raise UserNotFound(f"no user {user_id}")

    async def users(self, *, external_ref: str | None, cursor: str | None, limit: int) -> UsersPage:
        rows = await self._store.page_users(
            external_ref=external_ref, after=_after(cursor, _CREATED_AND_ID), limit=limit
        )
        return UsersPage(
            items=[
                UserOut(
                    user_id=u.user_id,
                    external_ref=u.external_ref,
                    version=u.version,
                    created_at=u.created_at,
                    erased_at=u.erased_at,
                )
                for u in rows[:limit]
            ],
            next_cursor=_next_cursor([(u.created_at, u.user_id) for u in rows], limit),
        )

    async def devices(
        self,
        *,
        user_id: str | None,
        platform: str | None,
        revoked: bool | None,
        cursor: str | None,
        limit: int,
    ) -> DevicesPage:
        after = _after(cursor, _CREATED_AND_ID)
        await self._require_user(user_id)
        rows = await self._store.page_devices(
            user_id=user_id, platform=platform, revoked=revoked, after=after, limit=limit
        )
        return DevicesPage(
            items=[device_out(d) for d in rows[:limit]],
            next_cursor=_next_cursor([(d.created_at, d.device_id) for d in rows], limit),
        )

    async def offers(
        self, *, status: str | None, user_id: str | None, cursor: str | None, limit: int
    ) -> OffersPage:
        after = _after(cursor, _CREATED_AND_ID)
        await self._require_user(user_id)
        rows = await self._store.page_offers(status=status, user_id=user_id, after=after, limit=limit)
        return OffersPage(
            items=[offer_out(o) for o in rows[:limit]],
            next_cursor=_next_cursor([(o.created_at, o.offer_id) for o in rows], limit),
        )

    async def evaluations(
        self, *, status: str | None, user_id: str | None, cursor: str | None, limit: int
    ) -> EvaluationsPage:
        after = _after(cursor, _CREATED_AND_ID)
        await self._require_user(user_id)
        rows = await self._store.page_evaluations(status=status, user_id=user_id, after=after, limit=limit)
        return EvaluationsPage(
            items=[evaluation_out(e) for e in rows[:limit]],
            next_cursor=_next_cursor([(e.created_at, e.evaluation_id) for e in rows], limit),
        )

    async def outbox_rows(
        self, *, kind: str | None, state: str | None, cursor: str | None, limit: int
    ) -> OutboxRowsPage:
        rows = await self._store.page_outbox(
            kind=kind, state=state, after=_after(cursor, _OUTBOX_KEY), limit=limit
        )
        return OutboxRowsPage(
            items=[outbox_row_out(r) for r in rows[:limit]],
            next_cursor=_next_cursor([(r.outbox_id,) for r in rows], limit),
        )

    async def timeline(self, user_id: str, *, cursor: str | None, limit: int) -> TimelinePage:
        rows = await self._store.user_timeline(user_id, after=_after(cursor, _TIMELINE_KEY), limit=limit)
        return TimelinePage(
            items=rows[:limit], next_cursor=_next_cursor([(e.at, e.kind, e.ref) for e in rows], limit)
        )
