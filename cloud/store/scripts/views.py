"""What the admin API and analytics read: the user view, notices, aggregates (scripts over :class:`Tx`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import msgspec

from cloud.store.errors import UserNotFound
from cloud.store.records import AggregateGroupRecord, AggregateRecord, NoticeRecord, OfferRecord, UserView
from cloud.store.scripts import offers
from cloud.store.scripts.changelog import append_change
from cloud.store.scripts.devices import DEVICE_COLUMNS, device_record, user_record
from cloud.store.scripts.mutations import consent_map
from cloud.store.tx import Tx
from sync.messages import Notice

AGGREGATE_SELECT: Final = (
    "SELECT device_id, seq, day, tz_offset_min, window_bucket, levels, mechanism,"
    " model_version, created_at, received_at, lineage_id FROM aggregates"
)


def aggregate_record(r: Sequence[Any]) -> AggregateRecord:
    return AggregateRecord(
        device_id=r[0],
        lineage_id=r[10],
        seq=r[1],
        day=r[2],
        tz_offset_min=r[3],
        window_bucket=r[4],
        levels=msgspec.json.decode(r[5]),
        mechanism=msgspec.json.decode(r[6]),
        model_version=r[7],
        created_at=r[8],
        received_at=r[9],
    )


def append_notice(tx: Tx, *, user_id: str, notice_id: str, kind: str, title: str, body: str, now: int) -> int:
    version = append_change(
        tx,
        user_id,
        lambda v: Notice(version=v, notice_id=notice_id, kind=kind, title=title, body=body, created_at=now),
        now,
    )
    tx.execute(
        "INSERT INTO notices (notice_id, user_id, version, kind, title, body, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (notice_id, user_id, version, kind, title, body, now),
    )
    return version


def user_view(tx: Tx, user_id: str) -> UserView:
    row = tx.execute(
        "SELECT user_id, external_ref, version, created_at, erased_at FROM users WHERE user_id = ?",
        (user_id,),
    ).fetchone()
    if row is None:
        raise UserNotFound(f"no user {user_id}")
    notices = [
        NoticeRecord(
            notice_id=r[0],
            version=r[1],
            kind=r[2],
            title=r[3],
            body=r[4],
            created_at=r[5],
            acked_at=r[6],
        )
        for r in tx.execute(
            "SELECT notice_id, version, kind, title, body, created_at, acked_at FROM notices"
            " WHERE user_id = ? ORDER BY version",
            (user_id,),
        )
    ]
    aggregates = [
        aggregate_record(r)
        for r in tx.execute(
            f"{AGGREGATE_SELECT} WHERE user_id = ? ORDER BY device_id, seq",
            (user_id,),
        )
    ]
    devices = [
        device_record(r)
        for r in tx.execute(
            f"SELECT {DEVICE_COLUMNS} FROM devices WHERE user_id = ?"  # noqa: S608
            " ORDER BY created_at, device_id",
            (user_id,),
        )
    ]
    return UserView(
        user=user_record(row),
        consent=consent_map(tx, user_id),
        notices=notices,
        offers=offers.list_offers(tx, user_id),
        profile=offers.get_profile(tx, user_id),
        aggregates=aggregates,
        devices=devices,
    )


def list_offers(tx: Tx, user_id: str) -> list[OfferRecord]:
    if tx.execute("SELECT 1 FROM users WHERE user_id = ?", (user_id,)).fetchone() is None:
        raise UserNotFound(f"no user {user_id}")
    return offers.list_offers(tx, user_id)


def user_aggregates(tx: Tx, user_id: str, first_day: str, last_day: str) -> list[AggregateRecord]:
    rows = tx.execute(
        f"{AGGREGATE_SELECT} WHERE user_id = ? AND day >= ? AND day <= ? ORDER BY day, device_id",
        (user_id, first_day, last_day),
    )
    return [aggregate_record(r) for r in rows]


def aggregate_groups(tx: Tx, first_day: str, last_day: str) -> list[AggregateGroupRecord]:
    # The daily counts kept with the aggregates (scripts/aggregates.py), grouped by model version
    # and the stored JSON text (each is encoded from one Struct, so equal values are equal text).
    rows = tx.execute(
        "SELECT model_version, levels, mechanism, SUM(count) FROM aggregate_model_counts"
        " WHERE day >= ? AND day <= ? GROUP BY model_version, levels, mechanism HAVING SUM(count) > 0"
        " ORDER BY model_version, levels, mechanism",
        (first_day, last_day),
    )
    return [
        AggregateGroupRecord(
            model_version=r[0],
            levels=msgspec.json.decode(r[1]),
            mechanism=msgspec.json.decode(r[2]),
            count=int(r[3]),
        )
        for r in rows
    ]
