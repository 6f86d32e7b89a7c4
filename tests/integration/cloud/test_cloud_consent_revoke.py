"""Revoking ``share_aggregates`` over a real server: the cloud deletes the user's aggregates in the
transaction that applies the revoke; other users and other scopes are untouched. Also end to end
from an ``EdgeClient``: released days arrive, a revoke withdraws what is queued and erases what
arrived."""

from __future__ import annotations

import datetime
import itertools
import random
from pathlib import Path

import pytest

from cloud.domain.consent.rules import SUPERSEDED
from edge_sdk.client import EdgeClient
from edge_sdk.privacy.scores import WindowScore
from edge_sdk.privacy.settings import PrivacySettings
from edge_sdk.settings import EdgeSettings
from sync.messages import ConsentScope, ConsentState, SetConsent, Withdrawn
from tests.support.consent import grant_share_aggregates_over_http
from tests.support.live_server import LiveServer, day_of, sample_aggregate, sync_ok

pytestmark = pytest.mark.engines("sqlite", "postgres")

_made_at = itertools.count(start=60_000, step=60_000)


def consent(seq: int, scope: ConsentScope, granted: bool) -> SetConsent:
    """A consent change made a minute after the previous one: the cloud orders changes by when they
    were made, and a minute is far beyond the error of the skew measured on each request (its
    transit time)."""
    return SetConsent(seq=seq, created_at=next(_made_at), scope=scope, granted=granted)


def days(server: LiveServer, user_id: str) -> list[str]:
    return sorted(a["day"] for a in server.user_view(user_id)["aggregates"])


def test_revoke_deletes_every_aggregate_of_the_user_only(live_server: LiveServer) -> None:
    phone = live_server.new_device()
    tablet = live_server.new_device(phone.user_id)
    other = live_server.new_device()
    grant_share_aggregates_over_http(live_server, other.user_id)
    sync_ok(
        live_server, phone, [consent(1, ConsentScope.SHARE_AGGREGATES, True), sample_aggregate(2, day_of(0))]
    )
    sync_ok(live_server, tablet, [sample_aggregate(1, day_of(1))])
    sync_ok(live_server, other, [sample_aggregate(1, day_of(0)), sample_aggregate(2, day_of(1))])
    assert days(live_server, phone.user_id) == [day_of(0), day_of(1)]

    # Revoking another scope deletes nothing.
    sync_ok(live_server, phone, [consent(3, ConsentScope.INFERENCE, False)])
    assert days(live_server, phone.user_id) == [day_of(0), day_of(1)]

    # An aggregate and the revoke in one request: both applied, the aggregate deleted with the rest.
    reply = sync_ok(
        live_server,
        tablet,
        [sample_aggregate(2, day_of(2)), consent(3, ConsentScope.SHARE_AGGREGATES, False)],
    )
    assert [(r.seq, r.status) for r in reply.results] == [(2, "applied"), (3, "applied")]
    assert days(live_server, phone.user_id) == []
    assert days(live_server, other.user_id) == [day_of(0), day_of(1)]
    view = live_server.user_view(phone.user_id)
    assert view["consent"] == {"share_aggregates": False, "inference": False, "push": False}

    # The user's other device learns the revoke.
    pulled = sync_ok(live_server, phone, [])
    states = [c for c in pulled.changes if isinstance(c, ConsentState)]
    assert states[-1].scopes[ConsentScope.SHARE_AGGREGATES] is False

    # Tombstones of withdrawn aggregates are acknowledged and store nothing.
    reply = sync_ok(live_server, phone, [Withdrawn(seq=4, created_at=1, original_type="SubmitAggregate")])
    assert [(r.seq, r.status) for r in reply.results] == [(4, "applied")]
    assert days(live_server, phone.user_id) == []


def test_an_aggregate_pushed_after_another_device_revoked_is_refused(live_server: LiveServer) -> None:
    phone = live_server.new_device()
    tablet = live_server.new_device(phone.user_id)
    sync_ok(live_server, phone, [consent(1, ConsentScope.SHARE_AGGREGATES, False)])
    # The tablet queued this before it heard of the revoke: refused, and last_seq still advances.
    reply = sync_ok(live_server, tablet, [sample_aggregate(1, day_of(0))])
    assert [(r.seq, r.status, r.code, r.detail) for r in reply.results] == [
        (1, "rejected", "consent_missing", "share_aggregates is revoked")
    ]
    assert reply.last_seq == 1
    assert days(live_server, phone.user_id) == []
    # Granted again: aggregates are accepted.
    sync_ok(live_server, phone, [consent(2, ConsentScope.SHARE_AGGREGATES, True)])
    reply = sync_ok(live_server, tablet, [sample_aggregate(2, day_of(1))])
    assert [(r.seq, r.status) for r in reply.results] == [(2, "applied")]
    assert days(live_server, phone.user_id) == [day_of(1)]


def test_an_aggregate_of_a_user_who_never_granted_sharing_is_refused(live_server: LiveServer) -> None:
    tokens = live_server.new_device()
    reply = sync_ok(
        live_server, tokens, [consent(1, ConsentScope.INFERENCE, True), sample_aggregate(2, day_of(0))]
    )
    assert [(r.seq, r.status, r.code, r.detail) for r in reply.results] == [
        (1, "applied", None, None),
        (2, "rejected", "consent_missing", "share_aggregates was never granted"),
    ]
    assert reply.last_seq == 2
    assert days(live_server, tokens.user_id) == []


def test_a_consent_change_older_than_the_recorded_one_changes_nothing(live_server: LiveServer) -> None:
    phone = live_server.new_device()
    tablet = live_server.new_device(phone.user_id)
    # The phone grants offline; a minute later the tablet revokes, and its revoke arrives first.
    grant = consent(1, ConsentScope.SHARE_AGGREGATES, True)
    sync_ok(live_server, tablet, [consent(1, ConsentScope.SHARE_AGGREGATES, False)])
    version = live_server.user_view(phone.user_id)["version"]

    reply = sync_ok(live_server, phone, [grant, sample_aggregate(2, day_of(0))])
    assert [(r.seq, r.status, r.code, r.detail) for r in reply.results] == [
        (1, "applied", None, SUPERSEDED),
        (2, "rejected", "consent_missing", "share_aggregates is revoked"),
    ]
    # The stale grant changed nothing, but a ConsentState tells the phone the consent that stands.
    view = live_server.user_view(phone.user_id)
    assert view["consent"] == {"inference": False, "share_aggregates": False, "push": False}
    assert view["version"] == version + 1 and view["aggregates"] == []
    states = [c for c in reply.changes if isinstance(c, ConsentState)]
    assert states[-1].version == version + 1
    assert states[-1].scopes == {scope: False for scope in ConsentScope}


def test_a_revoke_that_is_replayed_changes_nothing_more(live_server: LiveServer) -> None:
    tokens = live_server.new_device()
    grant_share_aggregates_over_http(live_server, tokens.user_id)
    revoke = consent(2, ConsentScope.SHARE_AGGREGATES, False)
    first = sync_ok(live_server, tokens, [sample_aggregate(1, day_of(0)), revoke])
    assert [r.status for r in first.results] == ["applied", "applied"]
    sync_ok(
        live_server, tokens, [consent(3, ConsentScope.SHARE_AGGREGATES, True), sample_aggregate(4, day_of(1))]
    )
    # The old revoke pushed again (its reply was lost) gets its original result as a replay and
    # deletes nothing.
    reply = sync_ok(live_server, tokens, [revoke])
    assert [(r.seq, r.status, r.replay) for r in reply.results] == [(2, "applied", True)]
    assert days(live_server, tokens.user_id) == [day_of(1)]


def test_edge_client_release_and_revoke_end_to_end(live_server: LiveServer, tmp_path: Path) -> None:
    user_id = live_server.create_user()
    today = datetime.datetime.now(datetime.UTC).date()
    settings = EdgeSettings(base_url=live_server.base_url, db_path=tmp_path / "edge.db")
    privacy = PrivacySettings(tz_offset_min=lambda _ms: 0, random=random.Random(5))
    with EdgeClient(settings, privacy=privacy) as client:
        client.enroll(live_server.enrollment_code(user_id))
        client.set_consent("inference", True)
        client.set_consent("share_aggregates", True)
        for back in (3, 2, 1):
            day = today - datetime.timedelta(days=back)
            start = int(datetime.datetime.combine(day, datetime.time(9), datetime.UTC).timestamp() * 1000)
            client.record_window_scores(
                [
                    WindowScore(
                        end_ms=start + i * 60_000,
                        stress_prob=0.8,
                        valence=0.1,
                        arousal=0.2,
                        model_version="m-1",
                    )
                    for i in range(12)
                ]
            )
            if back == 2:
                client.release_daily_aggregates()
                client.sync()
        assert days(live_server, user_id) == [
            (today - datetime.timedelta(days=n)).isoformat() for n in (3, 2)
        ]

        assert [r.day for r in client.release_daily_aggregates().released] == [
            (today - datetime.timedelta(days=1)).isoformat()
        ]
        client.set_consent("share_aggregates", False)
        client.set_consent("inference", False)
        assert client.window_scores() == []
        client.sync()
        assert client.status().pending == 0 and client.rejections() == []
        assert days(live_server, user_id) == []
        device = live_server.device(client.status().device_id or "", user_id)
        assert device["last_seq"] == client.status().highest_seq_allocated
        assert client.privacy_ledger().lifetime_epsilon == 3.0
