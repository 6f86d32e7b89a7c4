"""Operator actions on credit profiles and offers; each is one store transaction.

An offer is created from explicit terms (``docs/offers.md`` says why the scorecard is not called
here yet); the store checks them against the profile in the same transaction that writes them.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Final

from cloud.clock import now_ms
from cloud.domain.admin.schemas import CreateOffer, OfferOut, ProfileOut, PushAttemptOut, SetProfile
from cloud.domain.offers.errors import InvalidOfferTerms, OfferNotFound
from cloud.outbox.enqueue import OutboxDispatcher
from cloud.request_context import current_actor, current_request_id
from cloud.store.errors import UserNotFound
from cloud.store.protocol import Store
from cloud.store.records import (
    AuditRecord,
    OfferRecord,
    OfferTerms,
    ProfileRecord,
    PushAttemptRecord,
    wire_offer,
    wire_profile,
)

PROFILE_SET: Final = "profile_set"


TOKEN_SUFFIX_CHARS: Final = 8
"""How much of a push token an operator sees: enough to tell tokens apart, not to use one."""


def push_attempt_out(attempt: PushAttemptRecord) -> PushAttemptOut:
    message = {k: v for k, v in attempt.message.items() if k != "token"}
    return PushAttemptOut(
        outbox_id=attempt.outbox_id,
        attempt=attempt.attempt,
        device_id=attempt.device_id,
        token_suffix=attempt.token[-TOKEN_SUFFIX_CHARS:],
        sender=attempt.sender,
        outcome=attempt.outcome,
        error_code=attempt.error_code,
        message_id=attempt.message_id,
        message=message,
        at=attempt.at,
    )


def offer_out(offer: OfferRecord) -> OfferOut:
    return OfferOut(
        user_id=offer.user_id,
        offer=wire_offer(offer),
        policy_version=offer.policy_version,
        created_at=offer.created_at,
    )


class OfferService:
    def __init__(
        self, store: Store, clock: Callable[[], int] = now_ms, outbox: OutboxDispatcher | None = None
    ) -> None:
        self._store = store
        self._clock = clock
        self._outbox = outbox or OutboxDispatcher(None)

    async def set_profile(self, user_id: str, data: SetProfile) -> ProfileOut:
        """Create or replace the profile. Raises ``UserNotFound``."""
        profile = ProfileRecord(
            user_id=user_id,
            currency=data.currency,
            limit_cents=data.limit_cents,
            used_cents=data.used_cents,
            rate_bps=data.rate_bps,
            updated_at=self._clock(),
        )
        version = await self._store.set_profile(
            profile, actor=current_actor(), reason_code=PROFILE_SET, ref=current_request_id()
        )
        wired = wire_profile(profile)
        return ProfileOut(
            user_id=user_id, version=version, profile=wired, available_cents=wired.available_cents
        )

    async def create_offer(self, user_id: str, data: CreateOffer) -> OfferOut:
        """Raises ``UserNotFound`` / ``ProfileMissing`` / ``InvalidOfferTerms``."""
        now = self._clock()
        # Checked here too so the answer does not depend on the profile existing.
        if data.expires_at <= now:
            raise InvalidOfferTerms("expires_at is not in the future")
        terms = OfferTerms(
            offer_id="off_" + secrets.token_hex(12),
            user_id=user_id,
            new_limit_cents=data.new_limit_cents,
            rate_bps=data.rate_bps,
            term_months=data.term_months,
            expires_at=data.expires_at,
            reason_codes=list(data.reason_codes),
            policy_version=data.policy_version,
        )
        created = await self._store.create_offer_and_ping(
            terms, actor=current_actor(), ref=current_request_id(), now=now
        )
        # The ping only asks the devices to sync now; the offer reaches them through sync anyway.
        await self._outbox.dispatch(created.outbox)
        return offer_out(created.offer)

    async def withdraw_offer(self, offer_id: str, reason_code: str) -> OfferOut:
        """Raises ``OfferNotFound`` / ``OfferClosed``."""
        offer = await self._store.withdraw_offer(
            offer_id,
            actor=current_actor(),
            reason_code=reason_code,
            ref=current_request_id(),
            now=self._clock(),
        )
        return offer_out(offer)

    async def list_offers(self, user_id: str) -> list[OfferOut]:
        """Raises ``UserNotFound``."""
        return [offer_out(o) for o in await self._store.list_offers(user_id)]

    async def user_audit(self, user_id: str) -> list[AuditRecord]:
        """Every audit event of the user (offers and profile), oldest first. Raises ``UserNotFound``."""
        await self._require_user(user_id)
        return await self._store.audit_trail(user_id=user_id)

    async def user_pushes(self, user_id: str) -> list[PushAttemptOut]:
        """Every push attempt to the user's devices, oldest first. Raises ``UserNotFound``."""
        await self._require_user(user_id)
        return [push_attempt_out(a) for a in await self._store.push_attempts(user_id)]

    async def _require_user(self, user_id: str) -> None:
        if await self._store.get_user(user_id) is None:
            raise UserNotFound(f"no user {user_id}")

    async def offer(self, offer_id: str) -> OfferOut:
        """Raises ``OfferNotFound``."""
        offer = await self._store.get_offer(offer_id)
        if offer is None:
            raise OfferNotFound(f"no offer {offer_id}")
        return offer_out(offer)

    async def offer_audit(self, offer_id: str) -> list[AuditRecord]:
        """Raises ``OfferNotFound``."""
        if await self._store.get_offer(offer_id) is None:
            raise OfferNotFound(f"no offer {offer_id}")
        return await self._store.audit_trail(offer_id=offer_id)
