"""The local mirror of the cloud's state: applying pulled changes and reading them back.

Functions here run inside a transaction opened by :class:`~edge_sdk.store.local.LocalStore`.
Each row remembers the change-log version that wrote it and an older change never overwrites
a newer one, so replaying a page (a lost reply, a reset cursor) changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final

import msgspec
from sqlite_utils import Database

from sync.messages import (
    AnyChange,
    ConsentState,
    ModelRelease,
    Notice,
    Offer,
    OfferRemoved,
    OfferUpsert,
    Profile,
    ProfileUpdate,
    Wipe,
)

MIRROR_TABLES: Final = (
    "mirror_offers",
    "mirror_profile",
    "mirror_notices",
    "mirror_consent",
    "mirror_models",
)

_offer_decoder: Final = msgspec.msgpack.Decoder(Offer)
_profile_decoder: Final = msgspec.msgpack.Decoder(Profile)
_release_decoder: Final = msgspec.msgpack.Decoder(ModelRelease)
_encoder: Final = msgspec.msgpack.Encoder()


class Applied(Enum):
    YES = "yes"
    STALE = "stale"
    """An older version than the row already holds; ignored."""
    WIPE = "wipe"
    """A ``Wipe``: the caller erases the whole store."""


@dataclass(frozen=True, slots=True)
class OfferRow:
    offer: Offer
    version: int


@dataclass(frozen=True, slots=True)
class ProfileRow:
    profile: Profile
    version: int


@dataclass(frozen=True, slots=True)
class NoticeRow:
    notice_id: str
    kind: str
    title: str
    body: str
    created_at: int
    version: int
    acked: bool


def clear(db: Database) -> None:
    for table in MIRROR_TABLES:
        db.execute(f"DELETE FROM {table}")  # noqa: S608 (table names are module constants)


def _newer(db: Database, table: str, key_column: str, key: str | int, version: int) -> bool:
    # Table and column names come from the callers below, never from data.
    sql = f"SELECT version FROM {table} WHERE {key_column} = ?"  # noqa: S608
    row = db.execute(sql, [key]).fetchone()
    return row is None or int(row[0]) <= version


def apply_change(db: Database, change: AnyChange) -> Applied:
    """Apply one known change to the mirror."""
    if isinstance(change, Wipe):
        return Applied.WIPE
    if isinstance(change, OfferUpsert):
        offer = change.offer
        if not _newer(db, "mirror_offers", "offer_id", offer.offer_id, change.version):
            return Applied.STALE
        db.execute(
            "INSERT OR REPLACE INTO mirror_offers (offer_id, status, expires_at, updated_at, version, offer) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                offer.offer_id,
                str(offer.status),
                offer.expires_at,
                offer.updated_at,
                change.version,
                _encoder.encode(offer),
            ],
        )
    elif isinstance(change, OfferRemoved):
        if not _newer(db, "mirror_offers", "offer_id", change.offer_id, change.version):
            return Applied.STALE
        db.execute("DELETE FROM mirror_offers WHERE offer_id = ?", [change.offer_id])
    elif isinstance(change, ProfileUpdate):
        if not _newer(db, "mirror_profile", "id", 1, change.version):
            return Applied.STALE
        db.execute(
            "INSERT OR REPLACE INTO mirror_profile (id, version, profile) VALUES (1, ?, ?)",
            [change.version, _encoder.encode(change.profile)],
        )
    elif isinstance(change, Notice):
        if not _newer(db, "mirror_notices", "notice_id", change.notice_id, change.version):
            return Applied.STALE
        # The change is the truth, ``acked`` included: the cloud re-sends a notice with
        # ``acked`` set when any of the user's devices acknowledges it, so a rebuilt mirror
        # and the user's other devices end with the same state as the cloud.
        db.execute(
            "INSERT INTO mirror_notices (notice_id, kind, title, body, created_at, version, acked) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (notice_id) DO UPDATE SET kind = excluded.kind, "
            "title = excluded.title, body = excluded.body, created_at = excluded.created_at, "
            "version = excluded.version, acked = excluded.acked",
            [
                change.notice_id,
                change.kind,
                change.title,
                change.body,
                change.created_at,
                change.version,
                int(change.acked),
            ],
        )
    elif isinstance(change, ConsentState):
        newest = db.execute("SELECT MAX(version) FROM mirror_consent").fetchone()[0]
        if newest is not None and int(newest) > change.version:
            return Applied.STALE
        # The change carries the full scope map: scopes absent from it are not granted.
        db.execute("DELETE FROM mirror_consent")
        for scope, granted in change.scopes.items():
            db.execute(
                "INSERT INTO mirror_consent (scope, granted, version) VALUES (?, ?, ?)",
                [str(scope), int(granted), change.version],
            )
    elif isinstance(change, ModelRelease):
        # Release numbers only grow: keep the newest release announced.
        row = db.execute("SELECT release, version FROM mirror_models WHERE id = 1").fetchone()
        if row is not None and (int(row[0]), int(row[1])) >= (change.release, change.version):
            return Applied.STALE
        db.execute(
            "INSERT OR REPLACE INTO mirror_models (id, release, change, version) VALUES (1, ?, ?, ?)",
            [change.release, _encoder.encode(change), change.version],
        )
    return Applied.YES


def mark_notice_acked(db: Database, notice_id: str) -> None:
    """Show a notice acked once the cloud confirmed this device's ``AckNotice``.

    Only a bridge until the cloud's acked ``Notice`` change is applied (it may come in a later
    page, or the reply's changes may have been left out as undecodable); the cloud never
    un-acks, so this cannot leave the mirror different from the cloud once that change is pulled.
    """
    db.execute("UPDATE mirror_notices SET acked = 1 WHERE notice_id = ?", [notice_id])


def purge_acked_notices(db: Database, before_ms: int) -> int:
    """Erase acknowledged notices created before ``before_ms``; returns how many."""
    return int(
        db.execute("DELETE FROM mirror_notices WHERE acked = 1 AND created_at < ?", [before_ms]).rowcount
    )


def read_offers(db: Database) -> list[OfferRow]:
    rows = db.execute("SELECT offer, version FROM mirror_offers ORDER BY updated_at, offer_id").fetchall()
    return [OfferRow(_offer_decoder.decode(r[0]), int(r[1])) for r in rows]


def read_profile(db: Database) -> ProfileRow | None:
    row = db.execute("SELECT profile, version FROM mirror_profile WHERE id = 1").fetchone()
    return ProfileRow(_profile_decoder.decode(row[0]), int(row[1])) if row else None


def read_notices(db: Database) -> list[NoticeRow]:
    rows = db.execute(
        "SELECT notice_id, kind, title, body, created_at, version, acked FROM mirror_notices "
        "ORDER BY version, notice_id"
    ).fetchall()
    return [NoticeRow(r[0], r[1], r[2], r[3], int(r[4]), int(r[5]), bool(r[6])) for r in rows]


def read_consent(db: Database) -> dict[str, bool]:
    rows = db.execute("SELECT scope, granted FROM mirror_consent ORDER BY scope").fetchall()
    return {str(r[0]): bool(r[1]) for r in rows}


def read_models(db: Database) -> list[ModelRelease]:
    """The newest model release announced (none, or one)."""
    rows = db.execute("SELECT change FROM mirror_models WHERE id = 1").fetchall()
    return [_release_decoder.decode(r[0]) for r in rows]
