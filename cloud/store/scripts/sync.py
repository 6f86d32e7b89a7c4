"""The sync exchange's transaction: the exactly-once push, then a page of the user's changes.

One script for every engine (:class:`Tx`): it locks the device and then the user before reading
what it will change, judges each pushed seq with the pure rules of :mod:`sync.push`, applies new
mutations through :mod:`cloud.store.scripts.mutations` and keeps each one's digest and result.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from cloud.domain.offers.rules import AcceptanceRule
from cloud.domain.releases.rules import cohort_bucket
from cloud.store.errors import CursorAhead, DeviceNotFound, DeviceRevoked, SeqConflict
from cloud.store.records import ItemResult, ProcessedMutation, PushItem, StoredChange, SyncOutcome
from cloud.store.scripts import releases
from cloud.store.scripts.mutations import PushState, apply_mutation
from cloud.store.tx import Tx
from sync.codes import RejectionCode, ResultStatus
from sync.messages import Withdrawn
from sync.push import Action, Resend, judge_resend, plan_push

_KEEP_DIGESTS: Final = (
    "INSERT INTO mutation_digests (device_id, seq, digest, status, code, detail)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (device_id, seq) DO UPDATE SET"
    " digest = excluded.digest, status = excluded.status, code = excluded.code,"
    " detail = excluded.detail"
)


def _keep_digests(tx: Tx, rows: list[tuple[str, int, bytes, str, str | None, str | None]]) -> None:
    # One call for the push's processed seqs (ascending, so engines lock them in one order). An
    # existing row at an unprocessed seq could only be left over from data restored from a
    # backup; what is processed now is the truth.
    if rows:
        tx.executemany(_KEEP_DIGESTS, rows)
        rows.clear()


def resent(tx: Tx, device_id: str, item: PushItem) -> ItemResult:
    """The result of a processed seq pushed again (:func:`sync.push.judge_resend`).

    The same content gets the result kept when it was processed, marked as a replay; other
    content raises :class:`SeqConflict` (a store restored from a backup), which rolls the whole
    request back.
    """
    row = tx.execute(
        "SELECT digest, status, code, detail FROM mutation_digests WHERE device_id = ? AND seq = ?",
        (device_id, item.seq),
    ).fetchone()
    verdict = judge_resend(
        stored_digest=None if row is None else bytes(row[0]),
        has_result=row is not None and row[1] is not None,
        pushed_digest=item.digest,
        withdrawn=isinstance(item.mutation, Withdrawn),
    )
    if verdict is Resend.CONFLICT:
        raise SeqConflict(
            f"seq {item.seq} was already processed with other content: the device's store was"
            " restored from a backup; re-enroll with replaces_device_id"
        )
    if verdict is Resend.REPLAY:
        return ItemResult(seq=item.seq, status=row[1], code=row[2], detail=row[3], replay=True)
    return ItemResult(seq=item.seq, status=ResultStatus.DUPLICATE)


def processed_mutations(tx: Tx, device_id: str) -> list[ProcessedMutation]:
    """What was kept of each seq the device pushed and the store processed, by seq."""
    rows = tx.execute(
        "SELECT device_id, seq, digest, status, code, detail FROM mutation_digests WHERE device_id = ?"
        " ORDER BY seq",
        (device_id,),
    )
    return [
        ProcessedMutation(device_id=r[0], seq=r[1], digest=bytes(r[2]), status=r[3], code=r[4], detail=r[5])
        for r in rows
    ]


def _wipe(
    tx: Tx, device_id: str, user_id: str, last_seq: int, items: Sequence[PushItem], now: int
) -> SyncOutcome:
    """The exchange of a device whose user was erased: nothing pushed is processed (each mutation is
    rejected ``user_erased``) and the page is the ``Wipe`` alone, whatever the cursor.

    The device's row records when it was first handed the ``Wipe``; its rows are purged once a lost
    reply can no longer bring it back (:func:`cloud.store.scripts.erasure.purge_wiped_devices`).
    """
    tx.execute(
        "UPDATE devices SET wiped_at = COALESCE(wiped_at, ?), last_seen_at = ? WHERE device_id = ?",
        (now, now, device_id),
    )
    changes = [
        StoredChange(version=v, type=t, body=bytes(b))
        for v, t, b in tx.execute(
            "SELECT version, type, body FROM change_log WHERE user_id = ? AND type = ? ORDER BY version",
            (user_id, "Wipe"),
        )
    ]
    results = [
        ItemResult(
            seq=item.seq,
            status=ResultStatus.REJECTED,
            code=RejectionCode.USER_ERASED,
            detail="the user was erased",
        )
        for item in items
    ]
    return SyncOutcome(last_seq=last_seq, results=results, expected_seq=None, changes=changes, erased=True)


def sync(
    tx: Tx,
    *,
    device_id: str,
    items: Sequence[PushItem],
    skew_ms: int,
    after_version: int,
    pull_limit: int,
    now: int,
    acceptance: AcceptanceRule,
    locale: str | None = None,
    model_version: str | None = None,
) -> SyncOutcome:
    """One ``/v1/sync`` transaction (spec §5 steps 7 to 9); raises and changes nothing on a refusal.

    The device's row, then the user's, are locked first: two requests of one device (a resend
    racing its original on another API process) or of one user's devices run one after the other,
    so a seq is processed once and change-log versions never interleave.
    """
    tx.lock_device(device_id)
    row = tx.execute(
        "SELECT d.user_id, d.last_seq, d.revoked, d.lineage_id FROM devices d WHERE d.device_id = ?",
        (device_id,),
    ).fetchone()
    if row is None:
        raise DeviceNotFound(f"no device {device_id}")
    user_id, last_seq, revoked, lineage_id = row
    if revoked:
        raise DeviceRevoked()
    tx.lock_user(user_id)
    version, erased_at, user_locale, announced = tx.execute(
        "SELECT version, erased_at, locale, model_release FROM users WHERE user_id = ?", (user_id,)
    ).fetchone()
    if erased_at is not None:
        return _wipe(tx, device_id, user_id, last_seq, items, now)
    if locale is not None and locale != user_locale:
        # Before the push: what this push makes the cloud write is in the locale just sent.
        tx.execute("UPDATE users SET locale = ? WHERE user_id = ?", (locale, user_id))
    if after_version > version:
        raise CursorAhead("cursor is ahead of the user's change log")
    plan = plan_push(last_seq, [item.seq for item in items])
    results: list[ItemResult] = []
    state = PushState()
    digests: list[tuple[str, int, bytes, str, str | None, str | None]] = []
    for step in plan.steps:
        item = items[step.index]
        if step.action is Action.DUPLICATE:
            # A seq sent twice in this push finds the first one's row.
            _keep_digests(tx, digests)
            # Raises SeqConflict, which rolls this whole transaction back.
            results.append(resent(tx, device_id, item))
            continue
        result = apply_mutation(
            tx, user_id, device_id, lineage_id, item, now,
            skew_ms=skew_ms, acceptance=acceptance, state=state,
        )  # fmt: skip
        results.append(result)
        digests.append((device_id, item.seq, item.digest, result.status, result.code, result.detail))
    _keep_digests(tx, digests)
    state.counts.flush(tx)
    tx.execute(
        "UPDATE devices SET last_seq = ?, skew_ms = ?, last_seen_at = ?,"
        " model_version = COALESCE(?, model_version) WHERE device_id = ?",
        (plan.last_seq, skew_ms, now, model_version, device_id),
    )
    # After the push, so the release's version follows what the push wrote.
    releases.announce(tx, user_id, cohort_bucket(user_id), int(announced), now)
    # Read after the writes, in the same transaction: the page includes this push's changes.
    changes = [
        StoredChange(version=v, type=t, body=bytes(b))
        for v, t, b in tx.execute(
            "SELECT version, type, body FROM change_log WHERE user_id = ? AND version > ?"
            " ORDER BY version LIMIT ?",
            (user_id, after_version, pull_limit + 1),
        )
    ]
    return SyncOutcome(
        last_seq=plan.last_seq,
        results=results,
        expected_seq=plan.expected_seq,
        changes=changes,
        outbox=list(tx.outbox_written),
    )
