"""Credit profiles, offers, their audit trail and the accept/decline mutations (scripts over
:class:`~cloud.store.tx.Tx`): every state change writes its audit row, its change-log entry and (for
an acceptance) its outbox row in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import msgspec

from cloud.domain.credit.explanations import explain
from cloud.domain.offers.errors import InvalidOfferTerms, OfferClosed, OfferNotFound, ProfileMissing
from cloud.domain.offers.rules import (
    AcceptanceRule,
    AcceptanceVerdict,
    IllegalTransition,
    judge_acceptance,
    transition,
)
from cloud.outbox.kinds import APPLY_OFFER, ApplyOfferPayload, encode_payload
from cloud.store.records import (
    AuditRecord,
    OfferRecord,
    OfferTerms,
    ProfileRecord,
    wire_offer,
    wire_profile,
)
from cloud.store.scripts.changelog import append_change, require_live_user, user_locale
from cloud.store.scripts.outbox_rows import insert_outbox
from cloud.store.tx import Tx
from sync.codes import RejectionCode
from sync.messages import AcceptOffer, DeclineOffer, OfferStatus, OfferUpsert, ProfileUpdate

SYSTEM_ACTOR: Final = "system"
"""Audit actor of changes nobody asked for at that moment (the expiry cron)."""
OFFER_EXPIRED: Final = "offer_expired"
"""Audit reason of ``offered`` → ``expired``."""
EXPIRE_REF: Final = "cron:expire_offers"

_json: Final = msgspec.json.Encoder()
OFFER_COLUMNS: Final = (
    "offer_id, user_id, status, current_limit_cents, new_limit_cents, rate_bps, term_months,"
    " expires_at, reason_codes, policy_version, created_at, updated_at, base_rate_bps, reasons"
)
_AUDIT_COLUMNS: Final = (
    "audit_id, offer_id, user_id, from_status, to_status, actor, reason_code, ref, detail, at"
)


def offer_record(row: Sequence[Any]) -> OfferRecord:
    return OfferRecord(
        offer_id=row[0],
        user_id=row[1],
        status=row[2],
        current_limit_cents=row[3],
        new_limit_cents=row[4],
        rate_bps=row[5],
        term_months=row[6],
        expires_at=row[7],
        reason_codes=msgspec.json.decode(row[8], type=list[str]),
        policy_version=row[9],
        created_at=row[10],
        updated_at=row[11],
        base_rate_bps=row[12],
        reasons=[] if row[13] is None else msgspec.json.decode(row[13], type=list[str]),
    )


def _audit(row: Sequence[Any]) -> AuditRecord:
    return AuditRecord(
        audit_id=row[0],
        offer_id=row[1],
        user_id=row[2],
        from_status=row[3],
        to_status=row[4],
        actor=row[5],
        reason_code=row[6],
        ref=row[7],
        detail=None if row[8] is None else msgspec.json.decode(row[8], type=dict[str, object]),
        at=row[9],
    )


def audit(
    tx: Tx,
    *,
    user_id: str,
    offer_id: str | None,
    from_status: OfferStatus | None,
    to_status: OfferStatus | None,
    actor: str,
    reason_code: str,
    ref: str | None,
    now: int,
    detail: dict[str, object] | None = None,
) -> None:
    """Append one audit event (the table refuses updates and deletes)."""
    tx.execute(
        "INSERT INTO offer_audit (offer_id, user_id, from_status, to_status, actor, reason_code, ref,"
        " detail, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            offer_id,
            user_id,
            None if from_status is None else from_status.value,
            None if to_status is None else to_status.value,
            actor,
            reason_code,
            ref,
            None if detail is None else _json.encode(detail).decode(),
            now,
        ),
    )


def get_profile(tx: Tx, user_id: str) -> ProfileRecord | None:
    row = tx.execute(
        "SELECT user_id, currency, limit_cents, used_cents, rate_bps, updated_at FROM credit_profiles"
        " WHERE user_id = ?",
        (user_id,),
    ).fetchone()
    if row is None:
        return None
    return ProfileRecord(
        user_id=row[0],
        currency=row[1],
        limit_cents=row[2],
        used_cents=row[3],
        rate_bps=row[4],
        updated_at=row[5],
    )


def set_profile(tx: Tx, profile: ProfileRecord, *, actor: str, reason_code: str, ref: str | None) -> int:
    """Create or replace the profile, audit it and append its ``ProfileUpdate``; the new version."""
    require_live_user(tx, profile.user_id)
    tx.execute(
        "INSERT INTO credit_profiles (user_id, currency, limit_cents, used_cents, rate_bps, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET currency = excluded.currency,"
        " limit_cents = excluded.limit_cents, used_cents = excluded.used_cents,"
        " rate_bps = excluded.rate_bps, updated_at = excluded.updated_at",
        (
            profile.user_id,
            profile.currency,
            profile.limit_cents,
            profile.used_cents,
            profile.rate_bps,
            profile.updated_at,
        ),
    )
    audit(
        tx,
        user_id=profile.user_id,
        offer_id=None,
        from_status=None,
        to_status=None,
        actor=actor,
        reason_code=reason_code,
        ref=ref,
        now=profile.updated_at,
        detail=msgspec.to_builtins(wire_profile(profile)),
    )
    wire = wire_profile(profile)
    return append_change(
        tx, profile.user_id, lambda v: ProfileUpdate(version=v, profile=wire), profile.updated_at
    )


def get_offer(tx: Tx, offer_id: str, user_id: str | None = None) -> OfferRecord | None:
    sql = f"SELECT {OFFER_COLUMNS} FROM offers WHERE offer_id = ?"  # noqa: S608 (constant columns)
    args: tuple[str, ...] = (offer_id,)
    if user_id is not None:
        sql += " AND user_id = ?"
        args = (offer_id, user_id)
    row = tx.execute(sql, args).fetchone()
    return None if row is None else offer_record(row)


def list_offers(tx: Tx, user_id: str) -> list[OfferRecord]:
    rows = tx.execute(
        f"SELECT {OFFER_COLUMNS} FROM offers WHERE user_id = ?"  # noqa: S608 (constant columns)
        " ORDER BY created_at, offer_id",
        (user_id,),
    )
    return [offer_record(r) for r in rows]


def create_offer(tx: Tx, terms: OfferTerms, *, actor: str, ref: str | None, now: int) -> OfferRecord:
    """Store an ``offered`` offer on the user's current limit and rate (its base), audit it, append
    its ``OfferUpsert``."""
    require_live_user(tx, terms.user_id)
    profile = get_profile(tx, terms.user_id)
    if profile is None:
        raise ProfileMissing(f"user {terms.user_id} has no credit profile")
    if terms.new_limit_cents <= profile.limit_cents:
        raise InvalidOfferTerms(
            f"new_limit_cents {terms.new_limit_cents} is not above the current limit {profile.limit_cents}"
        )
    if terms.expires_at <= now:
        raise InvalidOfferTerms("expires_at is not in the future")
    offer = OfferRecord(
        offer_id=terms.offer_id,
        user_id=terms.user_id,
        status=OfferStatus.OFFERED.value,
        current_limit_cents=profile.limit_cents,
        new_limit_cents=terms.new_limit_cents,
        rate_bps=terms.rate_bps,
        term_months=terms.term_months,
        expires_at=terms.expires_at,
        reason_codes=list(terms.reason_codes),
        policy_version=terms.policy_version,
        created_at=now,
        updated_at=now,
        base_rate_bps=profile.rate_bps,
        reasons=explain(terms.reason_codes, user_locale(tx, terms.user_id)),
    )
    tx.execute(
        f"INSERT INTO offers ({OFFER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
        (
            offer.offer_id,
            offer.user_id,
            offer.status,
            offer.current_limit_cents,
            offer.new_limit_cents,
            offer.rate_bps,
            offer.term_months,
            offer.expires_at,
            _json.encode(offer.reason_codes).decode(),
            offer.policy_version,
            offer.created_at,
            offer.updated_at,
            offer.base_rate_bps,
            _json.encode(offer.reasons).decode(),
        ),
    )
    audit(
        tx,
        user_id=offer.user_id,
        offer_id=offer.offer_id,
        from_status=None,
        to_status=OfferStatus.OFFERED,
        actor=actor,
        reason_code="offer_created",
        ref=ref,
        now=now,
    )
    _publish(tx, offer, now)
    return offer


def _publish(tx: Tx, offer: OfferRecord, now: int) -> None:
    wire = wire_offer(offer)
    append_change(tx, offer.user_id, lambda v: OfferUpsert(version=v, offer=wire), now)


class OfferMovedMeanwhile(OfferClosed):
    """The offer's status changed between the read and the transition (a concurrent writer won)."""


def move_offer(
    tx: Tx,
    offer: OfferRecord,
    target: OfferStatus,
    *,
    actor: str,
    reason_code: str,
    ref: str | None,
    now: int,
    detail: dict[str, object] | None = None,
) -> OfferRecord:
    """Apply one state-machine transition with its audit row and ``OfferUpsert``.

    Raises the rules' :class:`~cloud.domain.offers.rules.IllegalTransition` and changes nothing then.
    """
    current = OfferStatus(offer.status)
    transition(current, target)
    # Conditional on the status read: a concurrent transition (another process's job or request
    # that got there first) leaves this one with nothing to move, never a second move.
    moved_rows = tx.execute(
        "UPDATE offers SET status = ?, updated_at = ? WHERE offer_id = ? AND status = ?",
        (target.value, now, offer.offer_id, current.value),
    ).rowcount
    if moved_rows != 1:
        raise OfferMovedMeanwhile(f"offer {offer.offer_id} is no longer {current.value}")
    moved = msgspec.structs.replace(offer, status=target.value, updated_at=now)
    audit(
        tx,
        user_id=offer.user_id,
        offer_id=offer.offer_id,
        from_status=current,
        to_status=target,
        actor=actor,
        reason_code=reason_code,
        ref=ref,
        now=now,
        detail=detail,
    )
    _publish(tx, moved, now)
    return moved


def withdraw_offer(
    tx: Tx, offer_id: str, *, actor: str, reason_code: str, ref: str | None, now: int
) -> OfferRecord:
    offer = get_offer(tx, offer_id)
    if offer is None:
        raise OfferNotFound(f"no offer {offer_id}")
    # Lock the user, then read the offer again: a device's acceptance racing this withdrawal
    # (another process) is either seen here or waits for it.
    tx.lock_user(offer.user_id)
    offer = get_offer(tx, offer_id)
    assert offer is not None  # offers are never deleted
    try:
        return move_offer(
            tx, offer, OfferStatus.WITHDRAWN, actor=actor, reason_code=reason_code, ref=ref, now=now
        )
    except IllegalTransition as exc:
        raise OfferClosed(f"offer {offer_id} is {offer.status}") from exc


def audit_trail(tx: Tx, *, user_id: str | None, offer_id: str | None) -> list[AuditRecord]:
    """Audit events of one offer or one user (offers and profile), oldest first."""
    if offer_id is not None:
        rows = tx.execute(
            f"SELECT {_AUDIT_COLUMNS} FROM offer_audit WHERE offer_id = ? ORDER BY audit_id",  # noqa: S608
            (offer_id,),
        )
    else:
        rows = tx.execute(
            f"SELECT {_AUDIT_COLUMNS} FROM offer_audit WHERE user_id = ? ORDER BY audit_id",  # noqa: S608
            (user_id,),
        )
    return [_audit(r) for r in rows]


def accept_or_decline(
    tx: Tx,
    *,
    user_id: str,
    device_id: str,
    mutation: AcceptOffer | DeclineOffer,
    skew_ms: int,
    rule: AcceptanceRule,
    now: int,
) -> tuple[RejectionCode, str] | None:
    """Apply an ``AcceptOffer``/``DeclineOffer`` from a device; the refusal, or ``None`` if applied.

    An acceptance that counts moves the offer to ``accepted`` and queues its ``apply_offer``
    outbox row in the same transaction; a refused one changes nothing.
    """
    offer = get_offer(tx, mutation.offer_id, user_id)
    if offer is None:
        return RejectionCode.UNKNOWN_OFFER, f"no offer {mutation.offer_id}"
    if isinstance(mutation, AcceptOffer) and offer.status == OfferStatus.EXPIRED.value:
        # Only offers beyond the grace period are expired (expire_offers), so this is the verdict
        # the acceptance would have had on the still-open offer.
        return RejectionCode.OFFER_EXPIRED, AcceptanceVerdict.BEYOND_GRACE.value
    if offer.status != OfferStatus.OFFERED.value:
        return RejectionCode.OFFER_NOT_OPEN, f"offer is {offer.status}"
    actor = f"device:{device_id}"
    ref = f"seq:{mutation.seq}"
    if isinstance(mutation, DeclineOffer):
        detail: dict[str, object] | None = None if mutation.reason is None else {"reason": mutation.reason}
        move_offer(
            tx,
            offer,
            OfferStatus.DECLINED,
            actor=actor,
            reason_code="declined",
            ref=ref,
            now=now,
            detail=detail,
        )
        return None
    verdict = judge_acceptance(
        accepted_at_device=mutation.created_at,
        skew_ms=skew_ms,
        arrived_at=now,
        offer_created_at=offer.created_at,
        expires_at=offer.expires_at,
        rule=rule,
    )
    if not verdict.counts:
        return RejectionCode.OFFER_EXPIRED, verdict.value
    detail = {"accepted_at_device": mutation.created_at, "skew_ms": skew_ms}
    move_offer(
        tx,
        offer,
        OfferStatus.ACCEPTED,
        actor=actor,
        reason_code=f"accepted_{verdict.value}",
        ref=ref,
        now=now,
        detail=detail,
    )
    insert_outbox(tx, APPLY_OFFER, encode_payload(ApplyOfferPayload(offer.offer_id)), now=now)
    return None


def expire_offers(tx: Tx, *, now: int, grace_ms: int, limit: int, ref: str = EXPIRE_REF) -> list[OfferRecord]:
    """``offered`` offers whose expiry is more than ``grace_ms`` before ``now`` → ``expired``.

    At most ``limit``, oldest expiry first, each with its audit event (actor ``system``, reason
    ``offer_expired``) and ``OfferUpsert``. An offer inside the grace period stays ``offered``:
    an acceptance made offline before expiry may still arrive and count
    (:func:`~cloud.domain.offers.rules.judge_acceptance`), and must find the offer open.
    """
    cutoff = now - grace_ms
    rows = tx.execute(
        f"SELECT {OFFER_COLUMNS} FROM offers WHERE status = ? AND expires_at < ?"  # noqa: S608
        " ORDER BY expires_at, offer_id LIMIT ?",
        (OfferStatus.OFFERED.value, cutoff, limit),
    ).fetchall()
    offers = list(map(offer_record, rows))
    # Every user's row before any offer's, in one order: a transaction that locks a user and then
    # changes the user's offers (an acceptance, an erasure) never waits on this one the other way.
    for user_id in sorted({o.user_id for o in offers}):
        tx.lock_user(user_id)
    expired = []
    for offer in offers:
        current = get_offer(tx, offer.offer_id)
        if current is None or current.status != OfferStatus.OFFERED.value:
            continue  # moved while this transaction waited for the user's row
        expired.append(
            move_offer(
                tx,
                current,
                OfferStatus.EXPIRED,
                actor=SYSTEM_ACTOR,
                reason_code=OFFER_EXPIRED,
                ref=ref,
                now=now,
                detail={"expires_at": current.expires_at, "grace_ms": grace_ms},
            )
        )
    return expired
