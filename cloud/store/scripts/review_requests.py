"""A user's requests for a person to review an automated decision: opening one, from the
``RequestReview`` mutation inside the sync transaction (the operator's side is
:mod:`cloud.store.scripts.reviews`)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from enum import StrEnum
from typing import Any, Final

from cloud.store.records import ReviewRecord, ReviewStatus
from cloud.store.tx import Tx

REVIEW_COLUMNS: Final = (
    "review_id, user_id, offer_id, device_id, note, status, created_at, closed_at, closed_by, resolution"
)


def review_record(row: Sequence[Any]) -> ReviewRecord:
    return ReviewRecord(
        review_id=row[0],
        user_id=row[1],
        offer_id=row[2],
        device_id=row[3],
        note=row[4],
        status=row[5],
        created_at=row[6],
        closed_at=row[7],
        closed_by=row[8],
        resolution=row[9],
    )


def review_id_of(device_id: str, seq: int) -> str:
    """The id of the review a device's mutation asked for: one per (device, seq), whatever retries."""
    return "rev_" + hashlib.sha256(f"{device_id}:{seq}".encode()).hexdigest()[:24]


class ReviewRequested(StrEnum):
    OPENED = "opened"
    ALREADY_OPEN = "already_open"
    """A review of this offer is open already: the request joins it."""
    NO_OFFER = "no_offer"


def request_review(
    tx: Tx, *, user_id: str, device_id: str, seq: int, offer_id: str, note: str | None, now: int
) -> ReviewRequested:
    """Open a review of the user's offer (the ``RequestReview`` mutation at ``seq``)."""
    offer = tx.execute("SELECT 1 FROM offers WHERE offer_id = ? AND user_id = ?", (offer_id, user_id))
    if offer.fetchone() is None:
        return ReviewRequested.NO_OFFER
    open_row = tx.execute(
        "SELECT 1 FROM review_requests WHERE offer_id = ? AND status = ?", (offer_id, ReviewStatus.OPEN.value)
    ).fetchone()
    if open_row is not None:
        return ReviewRequested.ALREADY_OPEN
    tx.execute(
        f"INSERT INTO review_requests ({REVIEW_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL)",  # noqa: S608
        (review_id_of(device_id, seq), user_id, offer_id, device_id, note, ReviewStatus.OPEN.value, now),
    )
    return ReviewRequested.OPENED


def reviews_of(tx: Tx, user_id: str) -> list[ReviewRecord]:
    """The user's review requests, oldest first."""
    rows = tx.execute(
        f"SELECT {REVIEW_COLUMNS} FROM review_requests WHERE user_id = ?"  # noqa: S608 (constant columns)
        " ORDER BY created_at, review_id",
        (user_id,),
    )
    return [review_record(r) for r in rows]
