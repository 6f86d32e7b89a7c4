"""Change-log compaction (spec §5.5): which changes a later one of the same entity replaces."""

from __future__ import annotations

import pytest

from sync.compaction import entity_of, superseded
from sync.messages import (
    AnyChange,
    ConsentScope,
    ConsentState,
    ModelRelease,
    Notice,
    Offer,
    OfferRemoved,
    OfferStatus,
    OfferUpsert,
    Profile,
    ProfileUpdate,
    Wipe,
)

SHA = "0" * 64


def offer(version: int, offer_id: str, status: OfferStatus = OfferStatus.OFFERED) -> OfferUpsert:
    return OfferUpsert(
        version=version,
        offer=Offer(
            offer_id=offer_id,
            status=status,
            current_limit_cents=100,
            new_limit_cents=200,
            rate_bps=100,
            term_months=12,
            expires_at=1,
            updated_at=1,
        ),
    )


def notice(version: int, notice_id: str, acked: bool = False) -> Notice:
    return Notice(
        version=version, notice_id=notice_id, kind="info", title="t", body="b", created_at=1, acked=acked
    )


def profile(version: int) -> ProfileUpdate:
    return ProfileUpdate(
        version=version,
        profile=Profile(currency="EUR", limit_cents=1, used_cents=0, rate_bps=1, updated_at=1),
    )


def consent(version: int) -> ConsentState:
    return ConsentState(version=version, scopes={ConsentScope.PUSH: True})


def model(version: int, release: int) -> ModelRelease:
    return ModelRelease(
        version=version,
        release=release,
        model_version=f"m{release}",
        feature_spec_version="features-v1",
        sha256=SHA,
        url=f"/v1/models/{release}",
    )


CASES: list[tuple[str, list[AnyChange], list[int]]] = [
    ("nothing", [], []),
    ("one of each entity", [offer(1, "o1"), profile(2), notice(3, "n1"), consent(4), model(5, 1)], []),
    ("an offer's states: the latest stays", [offer(1, "o1"), offer(2, "o1", OfferStatus.ACCEPTED)], [1]),
    ("two offers are two entities", [offer(1, "o1"), offer(2, "o2"), offer(3, "o1")], [1]),
    ("a removal replaces the offer and stays", [offer(1, "o1"), OfferRemoved(version=2, offer_id="o1")], [1]),
    (
        "the acked notice replaces the notice",
        [notice(1, "n1"), notice(2, "n2"), notice(3, "n1", acked=True)],
        [1],
    ),
    (
        "profile and consent keep their latest",
        [profile(1), consent(2), profile(3), consent(4), consent(5)],
        [1, 2, 4],
    ),
    ("the newest model release replaces the older", [model(1, 1), model(2, 2), offer(3, "o1")], [1]),
    ("the wipe stays", [offer(1, "o1"), Wipe(version=2, reason="user_erased")], []),
]


@pytest.mark.parametrize(("changes", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_superseded(changes: list[AnyChange], expected: list[int]) -> None:
    assert superseded([(c.version, c) for c in changes]) == expected


def test_the_order_given_does_not_matter() -> None:
    changes = [offer(3, "o1"), offer(1, "o1"), offer(2, "o1")]
    assert superseded([(c.version, c) for c in changes]) == [1, 2]


def test_an_offer_and_its_removal_are_one_entity() -> None:
    assert entity_of(offer(1, "o1")) == entity_of(OfferRemoved(version=2, offer_id="o1"))
    assert entity_of(offer(1, "o1")) != entity_of(offer(1, "o2"))
