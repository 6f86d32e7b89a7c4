"""``POST /v1/sync`` over HTTP against a real server: happy paths, the exactly-once rule, paging."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from sync.codec import MediaType
from sync.codes import ErrorCode, RejectionCode, ResultStatus
from sync.messages import (
    AcceptOffer,
    AckNotice,
    ConsentScope,
    ConsentState,
    DeclineOffer,
    Notice,
    Platform,
    RegisterPushToken,
    RequestReview,
    SetConsent,
    TokenPair,
    Wipe,
    Withdrawn,
)
from sync.pull import encode_cursor
from tests.support.consent import grant_share_aggregates_over_http
from tests.support.live_server import LiveServer, day_of, post_sync, sample_aggregate, sync_body, sync_ok

pytestmark = pytest.mark.engines("sqlite", "postgres")


@pytest.mark.parametrize("media", [MediaType.MSGPACK, MediaType.JSON])
def test_push_aggregates_and_pull_notice(live_server: LiveServer, media: MediaType) -> None:
    tokens = live_server.new_device()
    grant_share_aggregates_over_http(live_server, tokens.user_id)
    version = live_server.add_notice(tokens.user_id, title="welcome")
    reply = sync_ok(
        live_server, tokens, [sample_aggregate(1, day_of(0)), sample_aggregate(2, day_of(1))], media
    )
    assert reply.last_seq == 2
    assert [(r.seq, r.status) for r in reply.results] == [(1, "applied"), (2, "applied")]
    assert reply.expected_seq is None
    # The grant (from another device of the user's) comes first in the log, then the notice.
    assert len(reply.changes) == 2
    grant, notice = reply.changes
    assert isinstance(grant, ConsentState) and grant.scopes[ConsentScope.SHARE_AGGREGATES] is True
    assert isinstance(notice, Notice) and notice.title == "welcome" and notice.version == version
    assert reply.cursor == encode_cursor(version)
    assert reply.has_more is False
    assert reply.server_time > 0 and reply.next_sync_after_s > 0

    view = live_server.user_view(tokens.user_id)
    assert [(a["seq"], a["day"]) for a in view["aggregates"]] == [(1, day_of(0)), (2, day_of(1))]
    assert view["aggregates"][0]["levels"] == {"stress": 1, "valence": 2, "arousal": 3}
    assert live_server.device(tokens.device_id, tokens.user_id)["last_seq"] == 2


def test_replayed_push_gets_its_results_again_and_is_stored_once(live_server: LiveServer) -> None:
    tokens = live_server.new_device()
    grant_share_aggregates_over_http(live_server, tokens.user_id)
    batch = [sample_aggregate(1, day_of(0)), sample_aggregate(2, day_of(1))]
    sync_ok(live_server, tokens, batch)
    again = sync_ok(live_server, tokens, [*batch, sample_aggregate(3, day_of(2))])
    assert [(r.seq, r.status, r.replay) for r in again.results] == [
        (1, "applied", True),
        (2, "applied", True),
        (3, "applied", False),
    ]
    assert again.last_seq == 3
    assert len(live_server.user_view(tokens.user_id)["aggregates"]) == 3


def _state(server: LiveServer, tokens: TokenPair) -> tuple[Any, ...]:
    """The device row (last_seq, skew, last seen), stored aggregates, consent and user version."""
    view = server.user_view(tokens.user_id)
    device = next(d for d in view["devices"] if d["device_id"] == tokens.device_id)
    return device, view["aggregates"], view["consent"], view["version"]


def test_same_mutation_as_json_after_msgpack_is_a_replay(live_server: LiveServer) -> None:
    tokens = live_server.new_device()
    grant_share_aggregates_over_http(live_server, tokens.user_id)
    batch = [
        sample_aggregate(1, day_of(0)),
        SetConsent(seq=2, created_at=1, scope=ConsentScope.PUSH, granted=True),
    ]
    sync_ok(live_server, tokens, batch, MediaType.MSGPACK)
    again = sync_ok(live_server, tokens, batch, MediaType.JSON)
    assert [(r.seq, r.status, r.replay) for r in again.results] == [
        (1, "applied", True),
        (2, "applied", True),
    ]
    assert len(live_server.user_view(tokens.user_id)["aggregates"]) == 1


@pytest.mark.parametrize("media", [MediaType.MSGPACK, MediaType.JSON])
def test_other_content_at_a_processed_seq_is_409_and_changes_nothing(
    live_server: LiveServer, media: MediaType
) -> None:
    tokens = live_server.new_device()
    grant_share_aggregates_over_http(live_server, tokens.user_id)
    first = sync_ok(
        live_server, tokens, [sample_aggregate(1, day_of(0)), sample_aggregate(2, day_of(1))], media
    )
    assert [r.status for r in first.results] == ["applied", "applied"]
    before = _state(live_server, tokens)
    # The store was restored from a backup that ends at seq 1: seq 2 is allocated again for new
    # data. New seqs ahead of it in the batch are processed and then rolled back with the rest.
    restored = [
        sample_aggregate(3, day_of(2)),
        SetConsent(seq=4, created_at=2, scope=ConsentScope.PUSH, granted=True),
        sample_aggregate(2, day_of(9)),
    ]
    body = sync_body(tokens.device_id, restored, media, device_time=1)
    response = post_sync(live_server, tokens.access_token, body, media)
    assert response.status_code == 409, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert (problem["status"], problem["code"]) == (409, ErrorCode.SEQ_CONFLICT)
    assert "seq 2" in problem["detail"]
    assert problem["request_id"] == response.headers["x-request-id"]
    assert _state(live_server, tokens) == before


def test_withdrawn_at_a_processed_seq_is_duplicate(live_server: LiveServer) -> None:
    # Taking back a mutation whose push was processed but whose reply was lost is not a conflict.
    tokens = live_server.new_device()
    grant_share_aggregates_over_http(live_server, tokens.user_id)
    sync_ok(live_server, tokens, [sample_aggregate(1, day_of(0))])
    reply = sync_ok(live_server, tokens, [Withdrawn(seq=1, created_at=9, original_type="SubmitAggregate")])
    assert [(r.seq, r.status) for r in reply.results] == [(1, "duplicate")]
    assert len(live_server.user_view(tokens.user_id)["aggregates"]) == 1


def test_gap_stops_processing_and_names_expected_seq(live_server: LiveServer) -> None:
    tokens = live_server.new_device()
    grant_share_aggregates_over_http(live_server, tokens.user_id)
    sync_ok(live_server, tokens, [sample_aggregate(1, day_of(0))])
    reply = sync_ok(live_server, tokens, [sample_aggregate(3, day_of(2)), sample_aggregate(4, day_of(3))])
    assert reply.last_seq == 1
    assert reply.expected_seq == 2
    assert reply.results == []
    assert [a["seq"] for a in live_server.user_view(tokens.user_id)["aggregates"]] == [1]
    assert live_server.device(tokens.device_id, tokens.user_id)["last_seq"] == 1


def test_gap_after_processed_mutations_keeps_them(live_server: LiveServer) -> None:
    tokens = live_server.new_device()
    grant_share_aggregates_over_http(live_server, tokens.user_id)
    reply = sync_ok(live_server, tokens, [sample_aggregate(1, day_of(0)), sample_aggregate(5, day_of(4))])
    assert reply.last_seq == 1 and reply.expected_seq == 2
    assert [(r.seq, r.status) for r in reply.results] == [(1, "applied")]


def test_duplicate_day_is_rejected_and_advances_last_seq(live_server: LiveServer) -> None:
    tokens = live_server.new_device()
    grant_share_aggregates_over_http(live_server, tokens.user_id)
    reply = sync_ok(live_server, tokens, [sample_aggregate(1, day_of(0)), sample_aggregate(2, day_of(0))])
    assert reply.last_seq == 2
    assert reply.results[1].status == ResultStatus.REJECTED
    assert reply.results[1].code == RejectionCode.DUPLICATE_DAY
    aggregates = live_server.user_view(tokens.user_id)["aggregates"]
    assert [(a["seq"], a["day"]) for a in aggregates] == [(1, day_of(0))]


def test_other_mutation_types(live_server: LiveServer) -> None:
    tokens = live_server.new_device()
    live_server.add_notice(tokens.user_id, title="n")
    notice_id = live_server.user_view(tokens.user_id)["notices"][0]["notice_id"]
    reply = sync_ok(
        live_server,
        tokens,
        [
            RegisterPushToken(seq=1, created_at=1, token="fcm-token", platform=Platform.ANDROID),
            AckNotice(seq=2, created_at=1, notice_id=notice_id),
            AckNotice(seq=3, created_at=1, notice_id="ntc_unknown"),
            AcceptOffer(seq=4, created_at=1, offer_id="off_1"),
            DeclineOffer(seq=5, created_at=1, offer_id="off_1"),
            Withdrawn(seq=6, created_at=1, original_type="SubmitAggregate"),
        ],
    )
    assert [(r.seq, r.status, r.code) for r in reply.results] == [
        (1, "applied", None),
        (2, "applied", None),
        (3, "rejected", RejectionCode.UNKNOWN_NOTICE),
        (4, "rejected", RejectionCode.UNKNOWN_OFFER),
        (5, "rejected", RejectionCode.UNKNOWN_OFFER),
        (6, "applied", None),
    ]
    assert reply.last_seq == 6


def test_a_notice_of_another_user_cannot_be_acked(live_server: LiveServer) -> None:
    owner = live_server.new_device()
    live_server.add_notice(owner.user_id)
    notice_id = live_server.user_view(owner.user_id)["notices"][0]["notice_id"]
    stranger = live_server.new_device()
    reply = sync_ok(live_server, stranger, [AckNotice(seq=1, created_at=1, notice_id=notice_id)])
    assert reply.results[0].code == RejectionCode.UNKNOWN_NOTICE


def _scopes(share_aggregates: bool) -> dict[ConsentScope, bool]:
    """A ``ConsentState``'s scopes when only ``share_aggregates`` was ever set: every scope is listed."""
    return {
        ConsentScope.INFERENCE: False,
        ConsentScope.SHARE_AGGREGATES: share_aggregates,
        ConsentScope.PUSH: False,
    }


def test_two_devices_of_one_user_see_each_others_consent(live_server: LiveServer) -> None:
    user_id = live_server.create_user()
    phone = live_server.new_device(user_id)
    tablet = live_server.new_device(user_id, Platform.IOS)
    # The cloud orders consent changes by when they were made: the revoke is a minute newer, far
    # beyond the error of the skew measured on each request (its transit time).
    first = sync_ok(
        live_server,
        phone,
        [SetConsent(seq=1, created_at=60_000, scope=ConsentScope.SHARE_AGGREGATES, granted=True)],
    )
    assert first.results[0].status == "applied"
    pulled = sync_ok(live_server, tablet)
    states = [c for c in pulled.changes if isinstance(c, ConsentState)]
    assert [s.scopes for s in states] == [_scopes(True)]

    revoke = SetConsent(seq=1, created_at=120_000, scope=ConsentScope.SHARE_AGGREGATES, granted=False)
    sync_ok(live_server, tablet, [revoke], cursor=pulled.cursor)
    again = sync_ok(live_server, phone, cursor=first.cursor)
    assert [c.scopes for c in again.changes if isinstance(c, ConsentState)] == [_scopes(False)]
    assert live_server.user_view(user_id)["consent"] == {
        "inference": False,
        "share_aggregates": False,
        "push": False,
    }


def test_devices_of_other_users_see_nothing(live_server: LiveServer) -> None:
    owner = live_server.new_device()
    live_server.add_notice(owner.user_id)
    sync_ok(live_server, owner, [SetConsent(seq=1, created_at=1, scope=ConsentScope.PUSH, granted=True)])
    stranger = live_server.new_device()
    assert sync_ok(live_server, stranger).changes == []


@pytest.mark.parametrize("media", [MediaType.MSGPACK, MediaType.JSON])
def test_paging_with_small_pull_limit(live_server: LiveServer, media: MediaType) -> None:
    tokens = live_server.new_device()
    versions = [live_server.add_notice(tokens.user_id, title=f"n{i}") for i in range(5)]
    cursor: str | None = None
    seen: list[int] = []
    pages = 0
    while True:
        reply = sync_ok(live_server, tokens, media=media, cursor=cursor, pull_limit=2)
        pages += 1
        seen += [c.version for c in reply.changes]
        assert len(reply.changes) <= 2
        cursor = reply.cursor
        if not reply.has_more:
            break
    assert seen == versions
    assert pages == 3
    # Replaying the last page changes nothing and never moves the cursor backwards.
    replay = sync_ok(live_server, tokens, media=media, cursor=cursor, pull_limit=2)
    assert replay.changes == [] and replay.cursor == cursor and replay.has_more is False


def test_pull_limit_zero_is_push_only(live_server: LiveServer) -> None:
    tokens = live_server.new_device()
    grant_share_aggregates_over_http(live_server, tokens.user_id)
    live_server.add_notice(tokens.user_id)
    reply = sync_ok(live_server, tokens, [sample_aggregate(1)], pull_limit=0)
    assert [r.status for r in reply.results] == ["applied"]
    assert reply.last_seq == 1 and reply.changes == [] and reply.has_more is True
    assert reply.cursor == encode_cursor(0)


def test_skew_is_measured_from_device_time(live_server: LiveServer) -> None:
    import time

    tokens = live_server.new_device()
    ahead = time.time_ns() // 1_000_000 + 3_600_000
    sync_ok(live_server, tokens, device_time=ahead)
    skew = live_server.device(tokens.device_id, tokens.user_id)["skew_ms"]
    assert 3_590_000 < skew <= 3_600_000


def test_offline_month_syncs_in_one_request(live_server: LiveServer) -> None:
    tokens = live_server.new_device()
    grant_share_aggregates_over_http(live_server, tokens.user_id)
    reply = sync_ok(live_server, tokens, [sample_aggregate(i + 1, day_of(i)) for i in range(30)])
    assert reply.last_seq == 30
    assert all(r.status == "applied" for r in reply.results)
    assert len(live_server.user_view(tokens.user_id)["aggregates"]) == 30


def test_ack_reaches_the_users_other_devices_once(live_server: LiveServer) -> None:
    user_id = live_server.create_user()
    phone = live_server.new_device(user_id)
    tablet = live_server.new_device(user_id, Platform.IOS)
    created = live_server.add_notice(user_id, title="limit raised")
    tablet_first = sync_ok(live_server, tablet)
    [unread] = tablet_first.changes
    assert isinstance(unread, Notice) and unread.acked is False

    ack = sync_ok(live_server, phone, [AckNotice(seq=1, created_at=1, notice_id=unread.notice_id)])
    assert ack.results[0].status == "applied"
    # The acked notice is a new change, pulled by the acking device in the same reply.
    assert [(c.version, getattr(c, "acked", None)) for c in ack.changes] == [
        (created, False),
        (created + 1, True),
    ]

    pulled = sync_ok(live_server, tablet, cursor=tablet_first.cursor)
    [acked] = pulled.changes
    assert isinstance(acked, Notice) and acked.acked is True and acked.version == created + 1
    assert msgspec.structs.replace(acked, version=unread.version, acked=False) == unread

    # Acking again, from either device, is applied and appends nothing.
    again = sync_ok(
        live_server,
        tablet,
        [AckNotice(seq=1, created_at=2, notice_id=unread.notice_id)],
        cursor=pulled.cursor,
    )
    assert again.results[0].status == "applied" and again.changes == []
    phone_again = sync_ok(
        live_server, phone, [AckNotice(seq=2, created_at=3, notice_id=unread.notice_id)], cursor=ack.cursor
    )
    assert phone_again.results[0].status == "applied" and phone_again.changes == []

    # The admin view shows the notice exactly as a device mirrors it after applying the log.
    view = live_server.user_view(user_id)
    assert view["version"] == created + 1
    assert view["notices"] == [msgspec.to_builtins(acked)]


def test_an_erased_users_device_gets_only_the_wipe_even_pushing_only(live_server: LiveServer) -> None:
    tokens = live_server.new_device()
    live_server.add_notice(tokens.user_id)
    erased = live_server.admin.post(f"/v1/admin/users/{tokens.user_id}/erase")
    assert erased.status_code == 200, erased.text

    grant = SetConsent(seq=1, created_at=1, scope=ConsentScope.PUSH, granted=True)
    reply = sync_ok(live_server, tokens, [grant], pull_limit=0, cursor=encode_cursor(1))

    assert [(r.seq, r.status, r.code) for r in reply.results] == [
        (1, ResultStatus.REJECTED, RejectionCode.USER_ERASED)
    ]
    assert reply.changes == [Wipe(version=2, reason="user_erased")]
    assert (reply.has_more, reply.last_seq, reply.cursor) == (False, 0, encode_cursor(2))


def test_a_review_request_needs_protocol_2(live_server: LiveServer) -> None:
    tokens = live_server.new_device()
    review = RequestReview(seq=1, created_at=1, offer_id="off_nothing")
    old = sync_ok(live_server, tokens, [review], protocol=1)
    assert [(r.status, r.code, r.detail) for r in old.results] == [
        (ResultStatus.REJECTED, RejectionCode.INVALID_MUTATION, "RequestReview needs protocol 2")
    ]
    new = sync_ok(
        live_server, tokens, [RequestReview(seq=2, created_at=1, offer_id="off_nothing")], protocol=2
    )
    assert [(r.status, r.code) for r in new.results] == [(ResultStatus.REJECTED, RejectionCode.UNKNOWN_OFFER)]
