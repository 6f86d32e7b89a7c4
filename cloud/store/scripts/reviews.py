"""The operator's side of review requests: closing one with a resolution the user is sent as a
notice, in one transaction (the list is :func:`cloud.store.scripts.lists.reviews`)."""

from __future__ import annotations

import msgspec

from cloud.domain.offers.notices import review_completed
from cloud.store.errors import ReviewAlreadyClosed, ReviewNotFound
from cloud.store.records import ReviewClosed, ReviewRecord, ReviewStatus
from cloud.store.scripts.changelog import user_locale
from cloud.store.scripts.outbox import notify
from cloud.store.scripts.review_requests import REVIEW_COLUMNS, review_record
from cloud.store.tx import Tx


def get_review(tx: Tx, review_id: str) -> ReviewRecord | None:
    row = tx.execute(
        f"SELECT {REVIEW_COLUMNS} FROM review_requests WHERE review_id = ?",  # noqa: S608 (constant columns)
        (review_id,),
    ).fetchone()
    return None if row is None else review_record(row)


def close_review(tx: Tx, review_id: str, *, resolution: str, actor: str, now: int) -> ReviewClosed:
    """Close an open review with the reviewer's resolution and send it to the user as a notice (in
    the user's locale, pushed with the ``push`` consent). ``ReviewNotFound`` (an erased
    user's reviews went with the erasure) / ``ReviewAlreadyClosed``."""
    review = get_review(tx, review_id)
    if review is None:
        raise ReviewNotFound(f"no review {review_id}")
    tx.lock_user(review.user_id)
    moved = tx.execute(
        "UPDATE review_requests SET status = ?, closed_at = ?, closed_by = ?, resolution = ?"
        " WHERE review_id = ? AND status = ?",
        (ReviewStatus.CLOSED.value, now, actor, resolution, review_id, ReviewStatus.OPEN.value),
    ).rowcount
    if moved != 1:
        raise ReviewAlreadyClosed(f"review {review_id} is closed")
    notice = review_completed(review_id, resolution, user_locale(tx, review.user_id))
    push = notify(tx, review.user_id, notice, now)
    closed = msgspec.structs.replace(
        review, status=ReviewStatus.CLOSED.value, closed_at=now, closed_by=actor, resolution=resolution
    )
    return ReviewClosed(review=closed, outbox=[] if push is None else [push])
