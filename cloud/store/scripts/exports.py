"""A user's data export (``GET /v1/admin/users/{user_id}/export``): everything held about the user,
read in one transaction, and the export itself audited in the same transaction."""

from __future__ import annotations

from cloud.store.records import UserExportRecord
from cloud.store.scripts import credit, offers, operators, push, views
from cloud.store.scripts.changelog import require_live_user
from cloud.store.scripts.review_requests import reviews_of
from cloud.store.tx import Tx

EXPORTED = "user_exported"
"""The auth audit's event of an export: ``username`` names who exported, ``detail`` the user."""


def export_user(tx: Tx, user_id: str, *, actor: str, address: str | None, now: int) -> UserExportRecord:
    require_live_user(tx, user_id)
    record = UserExportRecord(
        view=views.user_view(tx, user_id),
        audit=offers.audit_trail(tx, user_id=user_id, offer_id=None),
        evaluations=credit.list_evaluations(tx, user_id),
        credit_features=credit.get_credit_features(tx, user_id),
        push_tokens=push.push_tokens(tx, user_id),
        pushes=push.push_attempts(tx, user_id),
        reviews=reviews_of(tx, user_id),
    )
    operators.audit(tx, EXPORTED, actor, now, actor=actor, address=address, detail=f"user={user_id}")
    return record
