"""Consent gating, window-score validation, and the revoke paths (tombstones, erasure) through a sync."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edge_sdk.client import EdgeClient
from edge_sdk.privacy.errors import ConsentRequired, InvalidWindowScores
from edge_sdk.privacy.scores import WindowScore
from edge_sdk.privacy.settings import PrivacySettings
from sync.messages import ConsentScope, SubmitAggregate, Withdrawn
from tests.unit.edge_sdk.conftest import aggregate
from tests.unit.edge_sdk.fakes import Clock, FakeCloud, LoseReply
from tests.unit.edge_sdk.privacy.conftest import DAY_MS, PrivateClient, windows


def outbox(client: EdgeClient) -> list[tuple[int, str]]:
    return [(m.seq, type(m).__name__) for m in client.store.pending()]


# --- the gate ------------------------------------------------------------------------


def test_gate_follows_the_effective_consent(
    make_private: PrivateClient, cloud: FakeCloud, clock: Clock, tmp_path: Path
) -> None:
    client = make_private()
    gate = client.consent_gate()
    recording = gate.enabled(ConsentScope.INFERENCE)
    assert not gate.allows("inference") and not recording()
    client.set_consent("inference", True)
    assert gate.allows(ConsentScope.INFERENCE) and recording()
    assert not gate.allows("share_aggregates") and not gate.allows("no_such_scope")
    client.set_consent("inference", False)
    assert not recording()
    with pytest.raises(ValueError):
        gate.enabled("no_such_scope")

    # Consent set on another device arrives by sync and the gate sees it.
    client.enroll(cloud.new_code("u1"))
    client.sync()
    clock.advance(60_000)
    tablet = make_private(path=tmp_path / "tablet.db")
    tablet.enroll(cloud.new_code("u1"))
    tablet.set_consent("inference", True)
    tablet.sync()
    assert not recording()
    client.sync()
    assert recording() and client.consent().scopes["inference"]


def test_submit_aggregate_needs_share_aggregates(make_private: PrivateClient) -> None:
    client = make_private()
    with pytest.raises(ConsentRequired) as refused:
        client.submit_aggregate(**aggregate("2024-03-01"))
    assert refused.value.scope == "share_aggregates"
    assert client.store.pending() == []
    client.set_consent("share_aggregates", True)
    assert client.submit_aggregate(**aggregate("2024-03-01")) == 2
    client.set_consent("share_aggregates", False)
    with pytest.raises(ConsentRequired):
        client.submit_aggregate(**aggregate("2024-03-02"))
    assert outbox(client) == [(1, "SetConsent"), (2, "Withdrawn"), (3, "SetConsent")]


def test_an_earlier_grant_synced_after_a_later_revoke_elsewhere_changes_nothing(
    make_private: PrivateClient, cloud: FakeCloud, clock: Clock, tmp_path: Path
) -> None:
    """Consent from several devices is ordered by when each change was made, not by when it
    arrived: the phone's offline grant is older than the tablet's revoke, so the cloud keeps the
    revoke, refuses the aggregate queued under the grant, and sends the phone the consent that stands."""
    phone = make_private()
    phone.enroll(cloud.new_code("u1"))
    assert phone.set_consent("share_aggregates", True) == 1
    assert phone.submit_aggregate(**aggregate("2024-03-01")) == 2
    clock.advance(60_000)
    tablet = make_private(path=tmp_path / "tablet.db")
    tablet.enroll(cloud.new_code("u1"))
    tablet.set_consent("share_aggregates", False)
    tablet.sync()

    outcome = phone.sync()
    # The stale grant is applied (processed) and changes nothing; the aggregate has no grant.
    assert [(r.seq, r.type, r.code) for r in outcome.rejected] == [(2, "SubmitAggregate", "consent_missing")]
    assert cloud.users["u1"].consent[ConsentScope.SHARE_AGGREGATES] is False
    assert cloud.users["u1"].aggregates == []
    view = phone.consent()
    assert (view.scopes, view.pending) == ({"inference": False, "share_aggregates": False, "push": False}, [])
    assert not phone.consent_gate().allows("share_aggregates")


# --- window scores -------------------------------------------------------------------


def test_window_scores_need_inference(make_private: PrivateClient) -> None:
    client = make_private()
    with pytest.raises(ConsentRequired) as refused:
        client.record_window_scores(windows("2024-03-09", 3))
    assert refused.value.scope == "inference"
    assert client.window_scores() == []
    client.set_consent("inference", True)
    assert client.record_window_scores(windows("2024-03-09", 3)) == 3
    assert client.window_scores() == windows("2024-03-09", 3)


def _score(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "end_ms": windows("2024-03-09", 1)[0].end_ms,
        "stress_prob": 0.5,
        "valence": 0.0,
        "arousal": 0.0,
        "model_version": "m-1",
    }
    values.update(changes)
    return values


BAD_BATCHES: dict[str, Callable[[Clock], Any]] = {
    "not a list": lambda c: "abc",
    "stress above 1": lambda c: [_score(stress_prob=1.01)],
    "stress below 0": lambda c: [_score(stress_prob=-0.1)],
    "stress NaN": lambda c: [_score(stress_prob=math.nan)],
    "valence below -1": lambda c: [_score(valence=-1.5)],
    "arousal infinite": lambda c: [_score(arousal=math.inf)],
    "arousal a string": lambda c: [_score(arousal="high")],
    "stress a bool": lambda c: [_score(stress_prob=True)],
    "end a float": lambda c: [_score(end_ms=1.5)],
    "end negative": lambda c: [_score(end_ms=-1)],
    "end in the future": lambda c: [_score(end_ms=c.now_ms + 61_000)],
    "empty model version": lambda c: [_score(model_version="")],
    "missing field": lambda c: [{"end_ms": 1, "stress_prob": 0.5}],
    "unknown type": lambda c: [42],
    "struct out of range": lambda c: [
        WindowScore(end_ms=c.now_ms, stress_prob=2.0, valence=0, arousal=0, model_version="m")
    ],
    "same end twice": lambda c: [_score(), _score()],
    "good then bad": lambda c: [_score(), _score(end_ms=c.now_ms, valence=9.0)],
}


@pytest.mark.parametrize("name", sorted(BAD_BATCHES))
def test_bad_window_scores_store_nothing(make_private: PrivateClient, clock: Clock, name: str) -> None:
    client = make_private()
    client.set_consent("inference", True)
    with pytest.raises(InvalidWindowScores):
        client.record_window_scores(BAD_BATCHES[name](clock))
    assert client.window_scores() == []


def test_a_stored_window_is_not_stored_twice(make_private: PrivateClient, clock: Clock) -> None:
    client = make_private()
    client.set_consent("inference", True)
    client.record_window_scores(windows("2024-03-09", 2))
    with pytest.raises(InvalidWindowScores, match="already stored"):
        client.record_window_scores(windows("2024-03-09", 3))
    assert len(client.window_scores()) == 2
    # Mappings are accepted, integers for floats too; a window just ahead of the clock is jitter.
    assert client.record_window_scores([_score(end_ms=clock.now_ms + 30_000, stress_prob=1, valence=-1)]) == 1


# --- revoke paths --------------------------------------------------------------------


def test_revoking_inference_erases_window_scores(consenting: EdgeClient) -> None:
    consenting.record_window_scores(windows("2024-03-09", 12))
    assert consenting.set_consent("inference", False) == 3
    assert consenting.window_scores() == []
    # Nothing is left to release; the already decided ledger is untouched.
    consenting.set_consent("inference", True)
    assert consenting.release_daily_aggregates().released == []


def test_revoke_erasure_commits_with_the_consent_change(consenting: EdgeClient) -> None:
    """A failing ``SetConsent`` write leaves the scores and the queued aggregates as they were."""
    consenting.record_window_scores(windows("2024-03-09", 12))
    consenting.release_daily_aggregates()
    consenting.store.db.execute(
        "CREATE TRIGGER no_consent BEFORE INSERT ON outbox "
        "WHEN NEW.type = 'SetConsent' BEGIN SELECT RAISE(ABORT, 'disk full'); END"
    )
    for scope in ("inference", "share_aggregates"):
        with pytest.raises(Exception, match="disk full"):
            consenting.set_consent(scope, False)
    assert len(consenting.window_scores()) == 12
    assert outbox(consenting) == [(1, "SetConsent"), (2, "SetConsent"), (3, "SubmitAggregate")]
    assert consenting.consent_gate().allows("share_aggregates")


def test_revoking_share_aggregates_tombstones_the_queue_and_syncs(
    make_private: PrivateClient, cloud: FakeCloud, clock: Clock
) -> None:
    client = make_private()
    client.enroll(cloud.new_code("u1"))
    client.set_consent("inference", True)
    client.set_consent("share_aggregates", True)
    for day in ("2024-03-07", "2024-03-08"):
        client.record_window_scores(windows(day, 10))
    client.release_daily_aggregates()
    client.sync()  # seqs 1-4 reach the cloud
    user = cloud.users["u1"]
    assert [a.day for a in user.aggregates] == ["2024-03-07", "2024-03-08"]

    client.record_window_scores(windows("2024-03-09", 10))
    clock.advance(DAY_MS)
    client.record_window_scores(windows("2024-03-10", 10))
    released = client.release_daily_aggregates().released
    assert [r.seq for r in released] == [5, 6]
    client.accept_offer("o1")
    before = {m.seq: m.created_at for m in client.store.pending()}

    assert client.set_consent("share_aggregates", False) == 8
    assert outbox(client) == [(5, "Withdrawn"), (6, "Withdrawn"), (7, "AcceptOffer"), (8, "SetConsent")]
    tombstones = [m for m in client.store.pending() if isinstance(m, Withdrawn)]
    assert all(t.original_type == "SubmitAggregate" and t.created_at == before[t.seq] for t in tombstones)
    # No gap: the pending seqs run on from the last acknowledged one.
    seqs = [seq for seq, _ in outbox(client)]
    assert seqs == list(range(client.status().last_seq_acked + 1, client.status().highest_seq_allocated + 1))
    assert not client.consent_gate().allows("share_aggregates")
    # The ledger still counts the withdrawn days: their ε was drawn.
    assert client.privacy_ledger().lifetime_epsilon == 4.0

    outcome = client.sync()
    assert client.store.pending() == [] and client.rejections()[0].type == "AcceptOffer"
    device = cloud.only_device()
    assert device.last_seq == 8
    pushed = [type(m).__name__ for m in device.mutations[4:]]
    assert pushed == ["Withdrawn", "Withdrawn", "AcceptOffer", "SetConsent"]
    assert not any(isinstance(m, SubmitAggregate) and m.seq > 4 for m in device.mutations)
    # The cloud deleted what it held when it applied the revoke; the device mirrors the consent.
    assert user.aggregates == []
    assert client.consent().scopes["share_aggregates"] is False and client.consent().pending == []
    assert outcome is not None

    # Nothing more is released while revoked.
    clock.advance(DAY_MS)
    assert client.release_daily_aggregates().consent_missing


def test_tombstone_for_an_aggregate_the_cloud_already_processed_is_a_duplicate(
    make_private: PrivateClient, cloud: FakeCloud
) -> None:
    """The reply to the push was lost, then the user revoked: the withdrawal simply came too late."""
    client = make_private()
    client.enroll(cloud.new_code("u1"))
    client.set_consent("inference", True)
    client.set_consent("share_aggregates", True)
    client.record_window_scores(windows("2024-03-09", 10))
    client.release_daily_aggregates()
    cloud.script.append(LoseReply())
    client.sync()
    assert outbox(client) == [(1, "SetConsent"), (2, "SetConsent"), (3, "SubmitAggregate")]
    client.set_consent("share_aggregates", False)
    assert outbox(client)[2] == (3, "Withdrawn")
    client.sync(force=True)
    assert client.store.pending() == [] and client.rejections() == []
    # The revoke deleted the aggregate that had arrived.
    assert cloud.users["u1"].aggregates == []


def test_revoke_before_enrolling_withdraws_too(consenting: EdgeClient, cloud: FakeCloud) -> None:
    consenting.record_window_scores(windows("2024-03-09", 10))
    consenting.release_daily_aggregates()
    consenting.set_consent("share_aggregates", False)
    consenting.enroll(cloud.new_code("u1"))
    consenting.sync()
    assert [type(m).__name__ for m in cloud.only_device().mutations] == [
        "SetConsent",
        "SetConsent",
        "Withdrawn",
        "SetConsent",
    ]
    assert cloud.users["u1"].aggregates == []


def test_wipe_erases_window_scores_and_keeps_the_ledger(
    make_private: PrivateClient, cloud: FakeCloud
) -> None:
    client = make_private()
    client.enroll(cloud.new_code("u1"))
    client.set_consent("inference", True)
    client.set_consent("share_aggregates", True)
    client.record_window_scores(windows("2024-03-08", 10) + windows("2024-03-09", 3))
    client.release_daily_aggregates()
    from sync.messages import Wipe

    cloud.append_change("u1", Wipe(version=1, reason="user_erased"))
    client.sync()
    assert client.window_scores() == [] and client.store.pending() == []
    assert not client.consent_gate().allows("inference")
    ledger = client.privacy_ledger()
    assert [e.day for e in ledger.entries] == ["2024-03-08", "2024-03-09"] and ledger.lifetime_epsilon == 1.0


def test_settings_default_to_secrets_and_host_offset() -> None:
    settings = PrivacySettings()
    assert settings.random is None
    assert -840 <= settings.tz_offset_min(1_700_000_000_000) <= 840
