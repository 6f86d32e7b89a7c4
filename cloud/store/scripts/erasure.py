"""Erasing a user (LGPD art. 18, GDPR art. 17) and finishing the erasure once the devices are wiped.

:func:`erase_user` is one transaction. The user's row stays as a tombstone: its identifiers are
cleared and its change-log counter is kept, so versions never repeat. Personal rows go: consent,
aggregates (off the analytics counts too), notices, credit features, evaluations that produced no
offer, push attempts, unused enrollment codes and the change log, which is left holding one
``Wipe``. Open offers are withdrawn; the user's pending pushes and evaluations are cancelled. Money
records — the credit profile, offers, the evaluations behind them, the offer audit — are kept as
they are (the audit is append-only), linked only to the user id, which names nobody any more.

The devices' rows (and their refresh tokens) stay so each device can still authenticate and pull
the ``Wipe``; :func:`purge_wiped_devices` deletes a device's rows once it has pulled it (and a grace
period for a lost reply has passed) or once its refresh tokens have expired, whichever is first.
"""

from __future__ import annotations

from typing import Final

import msgspec

from cloud.outbox.kinds import SEND_PUSH, decode_payload
from cloud.push.messages import PushPayload
from cloud.store.errors import ErasureBlocked, UserNotFound
from cloud.store.records import ErasureRecord, OutboxState, WipedPurge
from cloud.store.scripts import operators
from cloud.store.scripts.aggregates import erase_aggregates
from cloud.store.scripts.changelog import append_at
from cloud.store.scripts.offers import get_offer, move_offer
from cloud.store.scripts.outbox_rows import insert_outbox
from cloud.store.tx import Tx
from sync.codes import RejectionCode
from sync.messages import OfferStatus, Wipe

ERASED: Final = "user_erased"
"""The auth audit's event of an erasure, and the reason code of what it withdrew."""

WIPE_REDELIVERY_MS: Final = 24 * 3600 * 1000
"""How long a device's rows outlive the reply that carried its ``Wipe``: a device whose reply was
lost comes back within its retry back-off and must still find its identity to pull it again."""

_json: Final = msgspec.json.Encoder()


def _cancel(tx: Tx, outbox_ids: list[int], now: int) -> int:
    cancelled = 0
    for outbox_id in outbox_ids:
        cancelled += tx.execute(
            "UPDATE outbox SET state = ?, last_error = ?, updated_at = ?"
            " WHERE outbox_id = ? AND state IN (?, ?)",
            (
                OutboxState.CANCELLED.value,
                "cancelled: the user was erased",
                now,
                outbox_id,
                OutboxState.PENDING.value,
                OutboxState.DEAD.value,
            ),
        ).rowcount
    return cancelled


def _push_rows_of(tx: Tx, user_id: str) -> list[int]:
    # A push row names its user only inside its payload; unfinished rows are few (the state index).
    rows = tx.execute(
        "SELECT outbox_id, payload FROM outbox WHERE state IN (?, ?) AND kind = ? ORDER BY outbox_id",
        (OutboxState.PENDING.value, OutboxState.DEAD.value, SEND_PUSH),
    ).fetchall()
    return [
        int(r[0])
        for r in rows
        if decode_payload(r[0], SEND_PUSH, bytes(r[1]), PushPayload).user_id == user_id
    ]


def _tombstone(tx: Tx, user_id: str, erased_at: int, *, already: bool) -> ErasureRecord:
    # A revoked device is refused before it could pull the Wipe: it is not counted.
    (devices,) = tx.execute(
        "SELECT COUNT(*) FROM devices WHERE user_id = ? AND revoked = 0", (user_id,)
    ).fetchone()
    return ErasureRecord(
        user_id=user_id,
        erased_at=erased_at,
        already_erased=already,
        devices_to_wipe=int(devices),
        offers_withdrawn=[],
        evaluations_cancelled=0,
        pushes_cancelled=0,
    )


def erase_user(tx: Tx, user_id: str, *, actor: str, address: str | None, now: int) -> ErasureRecord:
    """Erase ``user_id`` (see the module docstring); erasing an erased user changes nothing.

    Raises :class:`UserNotFound`, or :class:`ErasureBlocked` while an offer is ``accepted`` (its
    application is in flight: the money must settle first).
    """
    tx.lock_user(user_id)
    row = tx.execute("SELECT erased_at FROM users WHERE user_id = ?", (user_id,)).fetchone()
    if row is None:
        raise UserNotFound(f"no user {user_id}")
    if row[0] is not None:
        return _tombstone(tx, user_id, int(row[0]), already=True)
    statuses = tx.execute(
        "SELECT offer_id, status FROM offers WHERE user_id = ? AND status IN (?, ?) ORDER BY offer_id",
        (user_id, OfferStatus.ACCEPTED.value, OfferStatus.OFFERED.value),
    ).fetchall()
    accepted = [r[0] for r in statuses if r[1] == OfferStatus.ACCEPTED.value]
    if accepted:
        raise ErasureBlocked(
            f"offer {accepted[0]} is accepted and not yet applied; erase once it is applied or failed"
        )
    withdrawn: list[str] = []
    for offer_id, _ in statuses:
        offer = get_offer(tx, offer_id)
        assert offer is not None  # offers are never deleted
        move_offer(tx, offer, OfferStatus.WITHDRAWN, actor=actor, reason_code=ERASED, ref=None, now=now)
        withdrawn.append(offer_id)
    evaluation_rows = [
        int(r[0])
        for r in tx.execute(
            "SELECT outbox_id FROM evaluations WHERE user_id = ? AND outbox_id IS NOT NULL"
            " ORDER BY outbox_id",
            (user_id,),
        )
    ]
    evaluations_cancelled = _cancel(tx, evaluation_rows, now)
    pushes_cancelled = _cancel(tx, _push_rows_of(tx, user_id), now)
    for statement in (
        "DELETE FROM evaluations WHERE user_id = ? AND offer_id IS NULL",
        "DELETE FROM credit_features WHERE user_id = ?",
        "DELETE FROM notices WHERE user_id = ?",
        "DELETE FROM consent WHERE user_id = ?",
        "DELETE FROM push_attempts WHERE user_id = ?",
        "DELETE FROM enrollment_codes WHERE user_id = ?",
        "DELETE FROM review_requests WHERE user_id = ?",
        "DELETE FROM lost_seqs WHERE user_id = ?",
        "DELETE FROM change_log WHERE user_id = ?",
    ):
        tx.execute(statement, (user_id,))
    erase_aggregates(tx, user_id)
    (version,) = tx.execute(
        "UPDATE users SET external_ref = NULL, erased_at = ?, version = version + 1 WHERE user_id = ?"
        " RETURNING version",
        (now, user_id),
    ).fetchone()
    append_at(
        tx, user_id, int(version), lambda v: Wipe(version=v, reason=RejectionCode.USER_ERASED.value), now
    )
    operators.audit(tx, ERASED, actor, now, actor=actor, address=address, detail=f"user={user_id}")
    # A data-only ping (it shows nothing, so it needs no push consent): the devices sync now and
    # pull their Wipe instead of waiting for their next routine sync.
    has_tokens = tx.execute(
        "SELECT 1 FROM push_tokens p JOIN devices d ON d.device_id = p.device_id"
        " WHERE d.user_id = ? AND d.revoked = 0 AND p.active = 1 LIMIT 1",
        (user_id,),
    ).fetchone()
    ping = (
        [insert_outbox(tx, SEND_PUSH, _json.encode(PushPayload(user_id=user_id, erasure=True)), now=now)]
        if has_tokens is not None
        else []
    )
    record = _tombstone(tx, user_id, now, already=False)
    return msgspec.structs.replace(
        record,
        offers_withdrawn=withdrawn,
        evaluations_cancelled=evaluations_cancelled,
        pushes_cancelled=pushes_cancelled,
        outbox=ping,
    )


_PURGEABLE: Final = (
    "SELECT d.device_id FROM devices d JOIN users u ON u.user_id = d.user_id"
    " WHERE u.erased_at IS NOT NULL AND ((d.wiped_at IS NOT NULL AND d.wiped_at <= ?)"
    " OR NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.device_id = d.device_id"
    " AND r.expires_at > ? AND r.revoked_at IS NULL))"
)


def purge_wiped_devices(tx: Tx, *, now: int, limit: int) -> WipedPurge:
    """Delete the rows of erased users' devices that have pulled their ``Wipe`` at least
    :data:`WIPE_REDELIVERY_MS` ago or whose refresh tokens are all expired or revoked, then finish up
    to ``limit`` erased users left without a device.

    A purged device is unknown: its access token is ``token_invalid`` and its refresh token
    ``refresh_invalid``. With an erased user's last device go the ``Wipe``, the attempts of the
    erasure's ping and the ping itself, if it is still pending.
    """
    wiped_before = now - WIPE_REDELIVERY_MS
    rows = tx.execute(f"{_PURGEABLE} ORDER BY d.device_id LIMIT ?", (wiped_before, now, limit)).fetchall()
    purged = 0
    for (device_id,) in rows:
        # Locked, then checked again: a refresh rotating the device's token meanwhile either
        # committed (and the device may stay) or waits and then finds no device.
        tx.lock_device(device_id)
        if tx.execute(f"{_PURGEABLE} AND d.device_id = ?", (wiped_before, now, device_id)).fetchone() is None:
            continue
        # Its aggregates went with the erasure; the ping's attempts name the device.
        for table in (
            "refresh_tokens",
            "mutation_digests",
            "push_tokens",
            "closed_lineages",
            "push_attempts",
        ):
            tx.execute(f"DELETE FROM {table} WHERE device_id = ?", (device_id,))  # noqa: S608 (constant)
        tx.execute("DELETE FROM devices WHERE device_id = ?", (device_id,))
        purged += 1
    # Erased users left without a device (the ones just purged, and any erased with none).
    done = tx.execute(
        "SELECT u.user_id FROM users u WHERE u.erased_at IS NOT NULL"
        " AND NOT EXISTS (SELECT 1 FROM devices d WHERE d.user_id = u.user_id)"
        " AND EXISTS (SELECT 1 FROM change_log c WHERE c.user_id = u.user_id) ORDER BY u.user_id LIMIT ?",
        (limit,),
    ).fetchall()
    for (user_id,) in done:
        _cancel(tx, _push_rows_of(tx, user_id), now)
        tx.execute("DELETE FROM push_attempts WHERE user_id = ?", (user_id,))
        tx.execute("DELETE FROM change_log WHERE user_id = ?", (user_id,))
    return WipedPurge(devices=purged, users=len(done))
