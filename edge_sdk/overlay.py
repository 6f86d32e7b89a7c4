"""Pending outbox mutations laid over the mirror, as pure functions.

Until the cloud acknowledges a mutation the app must see its effect anyway (an accepted
offer shows "accepting" at once, offline). Later mutations win over earlier ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from edge_sdk.store.mirror import NoticeRow, OfferRow
from edge_sdk.views import ConsentView, NoticeView, OfferView
from sync.messages import (
    AcceptOffer,
    AckNotice,
    ConsentScope,
    DeclineOffer,
    Mutation,
    OfferStatus,
    SetConsent,
)

ACCEPTING: Final = "accepting"
DECLINING: Final = "declining"

OVERLAID_TYPES: Final = (AcceptOffer.__name__, DeclineOffer.__name__, AckNotice.__name__, SetConsent.__name__)


def overlay_offers(rows: Sequence[OfferRow], pending: Sequence[Mutation]) -> list[OfferView]:
    """Offers as the user should see them.

    A pending answer shows only on an offer the mirror still has open (``offered``): if the
    cloud has meanwhile expired or withdrawn it, that is the truth the user needs to see.
    """
    answer: dict[str, str] = {}
    for mutation in pending:
        if isinstance(mutation, AcceptOffer):
            answer[mutation.offer_id] = ACCEPTING
        elif isinstance(mutation, DeclineOffer):
            answer[mutation.offer_id] = DECLINING
    views: list[OfferView] = []
    for row in rows:
        offer = row.offer
        local = answer.get(offer.offer_id) if offer.status == OfferStatus.OFFERED else None
        views.append(
            OfferView(
                offer_id=offer.offer_id,
                status=local or str(offer.status),
                current_limit_cents=offer.current_limit_cents,
                new_limit_cents=offer.new_limit_cents,
                rate_bps=offer.rate_bps,
                term_months=offer.term_months,
                expires_at=offer.expires_at,
                reason_codes=list(offer.reason_codes),
                reasons=list(offer.reasons),
                updated_at=offer.updated_at,
                pending=local is not None,
            )
        )
    return views


def overlay_notices(rows: Sequence[NoticeRow], pending: Sequence[Mutation]) -> list[NoticeView]:
    acking = {m.notice_id for m in pending if isinstance(m, AckNotice)}
    return [
        NoticeView(
            notice_id=r.notice_id,
            kind=r.kind,
            title=r.title,
            body=r.body,
            created_at=r.created_at,
            acked=r.acked or r.notice_id in acking,
            pending=r.notice_id in acking and not r.acked,
        )
        for r in rows
    ]


def overlay_consent(mirrored: dict[str, bool], pending: Sequence[Mutation]) -> ConsentView:
    scopes = {str(scope): mirrored.get(str(scope), False) for scope in ConsentScope}
    overlaid: set[str] = set()
    for mutation in pending:
        if isinstance(mutation, SetConsent):
            scopes[str(mutation.scope)] = mutation.granted
            overlaid.add(str(mutation.scope))
    return ConsentView(scopes=scopes, pending=sorted(overlaid))
