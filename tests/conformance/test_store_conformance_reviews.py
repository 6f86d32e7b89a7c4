"""Store conformance: a user's request for a person to review an offer's decision, the operator's
list, closing it with a notice to the user, and erasure. Run per backend by the conftest."""

from __future__ import annotations

import pytest

from cloud.domain.sync.digest import decode_pushed
from cloud.store import Store
from cloud.store.errors import ReviewAlreadyClosed, ReviewNotFound
from cloud.store.records import PushItem, ReviewStatus
from cloud.store.scripts.review_requests import review_id_of
from sync.codec import MediaType
from sync.messages import ConsentScope, RequestReview, SetConsent
from tests.conformance.test_store_conformance import NOW, enrolled, item, sync
from tests.conformance.test_store_credit_conformance import profile, terms

pytestmark = pytest.mark.anyio


def review(seq: int, offer_id: str = "off_1", note: str | None = "my income rose") -> RequestReview:
    return RequestReview(seq=seq, created_at=NOW, offer_id=offer_id, note=note)


async def with_offer(store: Store) -> None:
    await enrolled(store)
    await store.set_profile(profile(), actor="admin", reason_code="profile_set")
    await store.create_offer(terms(), actor="admin", now=NOW)


async def test_a_request_opens_one_review_per_offer(store: Store) -> None:
    await with_offer(store)
    out = await sync(store, "dev_1", [item(review(1)), item(review(2, note=None)), item(review(3, "off_x"))])
    assert [(r.status, r.code, r.detail) for r in out.results] == [
        ("applied", None, None),
        ("applied", None, "a review of this offer is already open"),
        ("rejected", "unknown_offer", None),
    ]
    (opened,) = await store.page_reviews(status=None, after=None, limit=10)
    assert (opened.review_id, opened.user_id, opened.offer_id, opened.device_id) == (
        review_id_of("dev_1", 1),
        "usr_1",
        "off_1",
        "dev_1",
    )
    assert (opened.note, opened.status, opened.created_at, opened.closed_at) == (
        "my income rose",
        "open",
        NOW + 1,
        None,
    )
    assert await store.page_reviews(status=ReviewStatus.CLOSED.value, after=None, limit=10) == []


async def test_closing_sends_the_answer_as_a_notice(store: Store) -> None:
    await with_offer(store)
    grant = SetConsent(seq=1, created_at=NOW, scope=ConsentScope.PUSH, granted=True)
    await sync(store, "dev_1", [item(grant), item(review(2))])
    review_id = review_id_of("dev_1", 2)

    closed = await store.close_review(
        review_id, resolution="We checked: the offer stands.", actor="operator:ana", now=NOW + 9
    )

    assert (closed.review.status, closed.review.closed_by, closed.review.closed_at) == (
        "closed",
        "operator:ana",
        NOW + 9,
    )
    assert closed.review.resolution == "We checked: the offer stands."
    (notice,) = (await store.user_view("usr_1")).notices
    assert (notice.notice_id, notice.kind, notice.title) == (
        f"review_completed:{review_id}",
        "review_completed",
        "A person reviewed the decision on your offer",
    )
    assert notice.body == "The reviewer's answer: We checked: the offer stands."
    (push,) = closed.outbox
    assert push.kind == "send_push"
    with pytest.raises(ReviewAlreadyClosed):
        await store.close_review(review_id, resolution="again", actor="operator:ana", now=NOW + 10)
    with pytest.raises(ReviewNotFound):
        await store.close_review("rev_nothing", resolution="x", actor="operator:ana", now=NOW + 10)
    # A new request for the offer opens a new review once the first is closed.
    out = await sync(store, "dev_1", [item(review(3))])
    assert [(r.status, r.detail) for r in out.results] == [("applied", None)]
    assert [r.status for r in await store.page_reviews(status=None, after=None, limit=10)] == [
        "open",
        "closed",
    ]


async def test_a_note_with_a_nul_character_is_an_invalid_mutation_not_a_stuck_outbox(store: Store) -> None:
    """PostgreSQL cannot store a NUL: the mutation is refused on its own and ``last_seq`` moves on,
    instead of the whole request failing at every retry."""
    await with_offer(store)
    raw = b'{"type": "RequestReview", "seq": 1, "created_at": 1, "offer_id": "off_1", "note": "a\\u0000b"}'
    mutation, digest, error = decode_pushed(raw, MediaType.JSON)
    assert mutation is None and error is not None and "note" in error
    pushed = PushItem(seq=1, mutation=None, digest=digest, error=error)
    out = await sync(store, "dev_1", [pushed, item(review(2))])
    assert [(r.status, r.code) for r in out.results] == [("rejected", "invalid_mutation"), ("applied", None)]
    assert out.last_seq == 2


async def test_erasure_deletes_the_users_reviews(store: Store) -> None:
    await with_offer(store)
    await sync(store, "dev_1", [item(review(1))])
    await store.withdraw_offer("off_1", actor="admin", reason_code="withdrawn", now=NOW + 2)
    await store.erase_user("usr_1", actor="admin", address=None, now=NOW + 3)
    assert await store.page_reviews(status=None, after=None, limit=10) == []
