"""The operator's side of review requests: closing one with a resolution the user is sent as a
notice, in one transaction (the list is :func:`cloud.store.scripts.lists.reviews`)."""

from __future__ import annotations

from cloud.domain.offers.notices import review_completed
from cloud.push.messages import PushPayload
from cloud.store.errors import ReviewAlreadyClosed, ReviewNotFound
from cloud.store.records import ReviewClosed, ReviewRecord, ReviewStatus
from cloud.store.scripts.changelog import user_locale
from cloud.store.scripts.push import queue_push
from cloud.store.scripts.review_requests import REVIEW_COLUMNS, review_record
from cloud.store.scripts.views import append_notice
from cloud.store.tx import Tx


def get_review(tx: Tx, review_id: str) -> ReviewRecord | None:
    row = tx.execute(
        f"SELECT {REVIEW_COLUMNS} FROM review_requests WHERE review_id = ?",  # noqa: S608 (constant columns)
        (review_id,),
    ).fetchone()
    return None if row is None else review_record(row)


def close_review(tx: Tx, review_id: str, *, resolution: str, actor: str, now: int) -> ReviewClosed:
    """Close an open review with the reviewer's resolution and send it to the user as a notice (in
    the user's locale, pushed with the ``push`` consent). ``ReviewNotFound`` / ``ReviewAlreadyClosed``;
    ``UserErased`` once the user is erased (their reviews went with the erasure)."""
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
    append_notice(
        tx,
        user_id=review.user_id,
        notice_id=notice.notice_id,
        kind=notice.kind.value,
        title=notice.title,
        body=notice.body,
        now=now,
    )
    push = queue_push(
        tx,
        PushPayload(user_id=review.user_id, notice_id=notice.notice_id, notice_kind=notice.kind.value),
        parent_id=None,
        now=now,
    )
    closed = get_review(tx, review_id)
    assert closed is not None
    return ReviewClosed(review=closed, outbox=[] if push is None else [push])
