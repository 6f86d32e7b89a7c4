"""Applying one pushed mutation inside the sync transaction (offers: :mod:`.offers`; the change
log: :mod:`.changelog`). Scripts over :class:`~cloud.store.tx.Tx`; the decisions are the pure rules
of :mod:`cloud.domain.consent.rules` and :mod:`cloud.domain.offers.rules`.
"""

from __future__ import annotations

from typing import Final

import msgspec

from cloud.domain.consent.rules import (
    SUPERSEDED,
    ConsentOrder,
    aggregate_refusal,
    changed_at,
    consent_scopes,
    order_change,
)
from cloud.domain.offers.rules import AcceptanceRule
from cloud.store.records import ItemResult, PushItem
from cloud.store.scripts.aggregates import AggregateCounts, count_aggregate, erase_aggregates
from cloud.store.scripts.changelog import append_change
from cloud.store.scripts.offers import accept_or_decline
from cloud.store.scripts.review_requests import ReviewRequested, request_review
from cloud.store.tx import Tx
from sync.codec import encode
from sync.codes import RejectionCode, ResultStatus
from sync.messages import (
    AcceptOffer,
    AckNotice,
    ConsentScope,
    ConsentState,
    DeclineOffer,
    Notice,
    RegisterPushToken,
    RequestReview,
    SetConsent,
    SubmitAggregate,
    Withdrawn,
)

_json_encoder: Final = msgspec.json.Encoder()


def record_consent(
    tx: Tx,
    user_id: str,
    device_id: str,
    scope: ConsentScope,
    granted: bool,
    at: int,
    now: int,
    state: PushState | None = None,
) -> bool:
    """Record a consent change made at ``at`` (server clock) and append the user's ``ConsentState``;
    ``False`` when a later change of the scope is recorded (the change is stale and changes nothing,
    but the state is still appended: the device that sent it learns the consent that stands)."""
    row = tx.execute(
        "SELECT changed_at FROM consent WHERE user_id = ? AND scope = ?", (user_id, scope.value)
    ).fetchone()
    stale = order_change(at, None if row is None else row[0]) is ConsentOrder.STALE
    if not stale:
        if state is not None:
            state.consent_changed()
        tx.execute(
            "INSERT INTO consent (user_id, scope, granted, device_id, updated_at, changed_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (user_id, scope) DO UPDATE SET"
            " granted = excluded.granted, device_id = excluded.device_id,"
            " updated_at = excluded.updated_at, changed_at = excluded.changed_at",
            (user_id, scope.value, int(granted), device_id, now, at),
        )
        if scope is ConsentScope.SHARE_AGGREGATES and not granted:
            # Revoking the scope erases what it covered, in this same transaction: every
            # aggregate of the user, from all of their devices.
            if state is not None:
                state.counts.flush(tx)  # the aggregates erased next include this push's
            erase_aggregates(tx, user_id)
    scopes = {ConsentScope(k): v for k, v in consent_map(tx, user_id).items()}
    append_change(tx, user_id, lambda v: ConsentState(version=v, scopes=scopes), now)
    return not stale


def consent_map(tx: Tx, user_id: str) -> dict[str, bool]:
    """The user's consent as devices mirror it: every scope with an explicit value once any was
    set (a scope never set is not granted), empty before the first ``SetConsent``."""
    rows = tx.execute("SELECT scope, granted FROM consent WHERE user_id = ? ORDER BY scope", (user_id,))
    recorded = {scope: bool(granted) for scope, granted in rows}
    if not recorded:
        return {}
    return {scope.value: granted for scope, granted in consent_scopes(recorded).items()}


def consent_of(tx: Tx, user_id: str, scope: ConsentScope) -> bool | None:
    """The user's setting of one scope: granted, revoked, or ``None`` if never set."""
    row = tx.execute(
        "SELECT granted FROM consent WHERE user_id = ? AND scope = ?", (user_id, scope.value)
    ).fetchone()
    return None if row is None else bool(row[0])


class PushState:
    """What one push's transaction carries from one mutation to the next: the daily aggregate
    counts, written once at its end, and the user's ``share_aggregates`` setting, read once and
    read again only after a ``SetConsent`` of the same push (a sync request stores up to hundreds
    of aggregates; one consent read each was a statement per aggregate)."""

    __slots__ = ("_sharing", "_sharing_read", "counts")

    def __init__(self) -> None:
        self.counts = AggregateCounts()
        self._sharing: bool | None = None
        self._sharing_read = False

    def sharing(self, tx: Tx, user_id: str) -> bool | None:
        """The user's ``share_aggregates``: granted, revoked, or ``None`` if never set."""
        if not self._sharing_read:
            self._sharing = consent_of(tx, user_id, ConsentScope.SHARE_AGGREGATES)
            self._sharing_read = True
        return self._sharing

    def consent_changed(self) -> None:
        self._sharing_read = False


ALREADY_UNDER_REVIEW: Final = "a review of this offer is already open"
"""The detail of a ``RequestReview`` that joins the offer's open review (spec §5.3)."""


def _rejected(seq: int, code: RejectionCode, detail: str | None = None) -> ItemResult:
    return ItemResult(seq=seq, status=ResultStatus.REJECTED, code=code, detail=detail)


def _ack_notice(tx: Tx, user_id: str, device_id: str, notice_id: str, now: int) -> bool:
    """Mark the notice acked and append its acked ``Notice`` change; ``False`` if the user has none.

    The change is what carries the acknowledgement to the user's other devices and survives a
    device rebuilding its mirror. Acking an acked notice changes nothing and appends nothing.
    """
    row = tx.execute(
        "SELECT kind, title, body, created_at, acked_at FROM notices WHERE notice_id = ? AND user_id = ?",
        (notice_id, user_id),
    ).fetchone()
    if row is None:
        return False
    kind, title, body, created_at, acked_at = row
    if acked_at is not None:
        return True
    version = append_change(
        tx,
        user_id,
        lambda v: Notice(
            version=v,
            notice_id=notice_id,
            kind=kind,
            title=title,
            body=body,
            created_at=created_at,
            acked=True,
        ),
        now,
    )
    # ``version`` follows the latest change so the admin view matches what devices mirror.
    tx.execute(
        "UPDATE notices SET acked_at = ?, acked_by = ?, version = ? WHERE notice_id = ?",
        (now, device_id, version, notice_id),
    )
    return True


def apply_mutation(
    tx: Tx,
    user_id: str,
    device_id: str,
    lineage_id: str,
    item: PushItem,
    now: int,
    *,
    skew_ms: int = 0,
    acceptance: AcceptanceRule | None = None,
    state: PushState | None = None,
) -> ItemResult:
    """Apply one processed mutation; a business refusal is a ``rejected`` result, not an error.

    ``skew_ms`` is the device's clock skew measured on this request; with ``acceptance`` it decides
    whether an offline ``AcceptOffer`` counts (:func:`cloud.domain.offers.rules.judge_acceptance`).
    ``state`` is what a push's mutations share (:class:`PushState`); without it each stored
    aggregate reads the consent and is counted at once.
    """
    m = item.mutation
    seq = item.seq
    if m is None:
        return _rejected(seq, RejectionCode.INVALID_MUTATION, item.error)
    if isinstance(m, SubmitAggregate):
        sharing = (
            consent_of(tx, user_id, ConsentScope.SHARE_AGGREGATES)
            if state is None
            else state.sharing(tx, user_id)
        )
        refusal = aggregate_refusal(sharing)
        if refusal is not None:
            return _rejected(seq, *refusal)
        levels = _json_encoder.encode(m.levels).decode()
        mechanism = _json_encoder.encode(m.mechanism).decode()
        cur = tx.execute(
            "INSERT INTO aggregates (device_id, lineage_id, user_id, seq, day, tz_offset_min, window_bucket,"
            " levels, mechanism, model_version, created_at, received_at, body)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (lineage_id, day) DO NOTHING",
            (
                device_id,
                lineage_id,
                user_id,
                seq,
                m.day,
                m.tz_offset_min,
                m.window_bucket,
                levels,
                mechanism,
                m.model_version,
                m.created_at,
                now,
                encode(m),
            ),
        )
        if cur.rowcount == 0:
            # Per lineage: a store restored from a backup re-sends under its new identity what
            # the old one may already have delivered.
            return _rejected(seq, RejectionCode.DUPLICATE_DAY, f"an aggregate for {m.day} is stored")
        if state is None:
            count_aggregate(tx, m.day, levels, mechanism, 1)
        else:
            state.counts.add(m.day, levels, mechanism)
    elif isinstance(m, SetConsent):
        at = changed_at(m.created_at, skew_ms, now)
        if not record_consent(tx, user_id, device_id, m.scope, m.granted, at, now, state):
            return ItemResult(seq=seq, status=ResultStatus.APPLIED, detail=SUPERSEDED)
    elif isinstance(m, RegisterPushToken):
        tx.execute(
            "INSERT INTO push_tokens (device_id, token, platform, active, updated_at) VALUES (?, ?, ?, 1, ?)"
            " ON CONFLICT (device_id) DO UPDATE SET token = excluded.token, platform = excluded.platform,"
            " active = 1, updated_at = excluded.updated_at",
            (device_id, m.token, m.platform.value, now),
        )
        # A token names one app install: the device that registered it last owns it. Left active
        # on a device of another user (a phone re-enrolled under someone else), that user's
        # notices, with their amounts, would reach this phone.
        tx.execute(
            "UPDATE push_tokens SET active = 0, updated_at = ?"
            " WHERE token = ? AND device_id != ? AND active = 1",
            (now, m.token, device_id),
        )
    elif isinstance(m, AckNotice):
        if not _ack_notice(tx, user_id, device_id, m.notice_id, now):
            return _rejected(seq, RejectionCode.UNKNOWN_NOTICE)
    elif isinstance(m, AcceptOffer | DeclineOffer):
        refusal = accept_or_decline(
            tx,
            user_id=user_id,
            device_id=device_id,
            mutation=m,
            skew_ms=skew_ms,
            rule=acceptance or AcceptanceRule(),
            now=now,
        )
        if refusal is not None:
            return _rejected(seq, *refusal)
    elif isinstance(m, RequestReview):
        requested = request_review(
            tx, user_id=user_id, device_id=device_id, seq=seq, offer_id=m.offer_id, note=m.note, now=now
        )
        if requested is ReviewRequested.NO_OFFER:
            return _rejected(seq, RejectionCode.UNKNOWN_OFFER)
        if requested is ReviewRequested.ALREADY_OPEN:
            return ItemResult(seq=seq, status=ResultStatus.APPLIED, detail=ALREADY_UNDER_REVIEW)
    elif isinstance(m, Withdrawn):
        if m.original_type is None:
            # A gap filler: the device had this seq acknowledged and deleted, and the server no
            # longer knows it (restored from an older backup). Operators see it on the timeline.
            tx.execute(
                "INSERT INTO lost_seqs (device_id, seq, user_id, at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (device_id, seq) DO NOTHING",
                (device_id, seq, user_id, now),
            )
    else:  # a mutation type this server build does not handle
        return _rejected(seq, RejectionCode.INVALID_MUTATION, f"unhandled {type(m).__name__}")
    return ItemResult(seq=seq, status=ResultStatus.APPLIED)
