"""A lost identity (revoked, refused refresh) and a seq conflict: stored, never retried, re-enrolled."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from edge_sdk.client import EdgeClient
from edge_sdk.errors import DeviceRevoked, DeviceStateRolledBack
from edge_sdk.settings import EdgeSettings
from edge_sdk.sync_client.outcome import SyncStatus
from edge_sdk.sync_client.transport import ENROLL_PATH, REFRESH_PATH, SYNC_PATH
from sync.codec import MediaType, decode_enroll
from tests.support.consent import grant_share_aggregates
from tests.unit.edge_sdk.conftest import MakeClient, aggregate, day_of
from tests.unit.edge_sdk.fakes import HOUR_MS, Clock, FakeCloud, LoseReply

REFUSED_REFRESH = [(401, "refresh_reused"), (401, "refresh_invalid"), (403, "device_revoked")]


def _enroll_replaces(cloud: FakeCloud) -> list[str | None]:
    return [
        decode_enroll(r.body, MediaType(r.content_type)).replaces_device_id
        for r in cloud.requests
        if r.path == ENROLL_PATH
    ]


def _with_mirror_and_pending(client: EdgeClient, cloud: FakeCloud) -> None:
    """Synced: the grant of ``share_aggregates`` and one aggregate; pending: one aggregate."""
    cloud.add_notice("u1", "n1")
    grant_share_aggregates(client)
    client.submit_aggregate(**aggregate(day_of(0)))
    client.sync()
    client.submit_aggregate(**aggregate(day_of(1)))


@pytest.mark.parametrize("answer", REFUSED_REFRESH, ids=[a[1] for a in REFUSED_REFRESH])
def test_refused_refresh_loses_the_identity_for_good(
    make_client: MakeClient, cloud: FakeCloud, answer: tuple[int, str]
) -> None:
    client = make_client()
    client.enroll(cloud.new_code("u1"))
    _with_mirror_and_pending(client, cloud)
    cloud.script = [FakeCloud.problem(401, "token_expired"), FakeCloud.problem(*answer)]
    with pytest.raises(DeviceRevoked) as caught:
        client.sync()
    assert caught.value.code == answer[1]
    # Tokens discarded; outbox and mirror kept for the app and a later re-enrollment.
    assert client.store.credentials() is None
    status = client.status()
    assert (status.enrolled, status.identity_lost, status.pending) == (True, answer[1], 1)
    assert [n.notice_id for n in client.notices()] == ["n1"]
    sent = len(cloud.requests)
    for force in (False, True):
        with pytest.raises(DeviceRevoked) as again:
            client.sync(force=force)
        assert again.value.code == answer[1]
    assert len(cloud.requests) == sent
    # It is stored: a restarted app does not try the old tokens either.
    client.close()
    reopened = make_client()
    with pytest.raises(DeviceRevoked):
        reopened.sync()
    assert len(cloud.requests) == sent


def test_revoked_on_sync_loses_the_identity(enrolled: EdgeClient, cloud: FakeCloud) -> None:
    _with_mirror_and_pending(enrolled, cloud)
    cloud.only_device().revoked = True
    with pytest.raises(DeviceRevoked):
        enrolled.sync()
    assert enrolled.store.credentials() is None
    assert enrolled.status().identity_lost == "device_revoked"
    sent = len(cloud.requests)
    with pytest.raises(DeviceRevoked):
        enrolled.sync(force=True)
    assert len(cloud.requests) == sent
    # Local writes still work while the identity is lost.
    enrolled.submit_aggregate(**aggregate(day_of(2)))
    assert enrolled.status().pending == 2


def test_provider_reenrolls_a_revoked_device_in_the_same_sync(
    make_client: MakeClient, cloud: FakeCloud
) -> None:
    client = make_client(reenroll=lambda: cloud.new_code("u1"))
    client.enroll(cloud.new_code("u1"))
    _with_mirror_and_pending(client, cloud)
    old_device = client.status().device_id
    assert old_device is not None
    cloud.devices[old_device].revoked = True
    outcome = client.sync()
    assert outcome.status is SyncStatus.SYNCED
    assert isinstance(outcome.revoked, DeviceRevoked)
    assert outcome.requeued == 1
    new_device = client.status().device_id
    assert outcome.reenrolled_device_id == new_device != old_device
    assert _enroll_replaces(cloud)[-1] == old_device
    assert cloud.devices[new_device].replaces == old_device  # type: ignore[index]
    assert [m.day for m in cloud.devices[new_device].mutations] == [day_of(1)]  # type: ignore[index]
    status = client.status()
    assert (status.identity_lost, status.pending, status.last_seq_acked) == (None, 0, 1)
    assert [n.notice_id for n in client.notices()] == ["n1"]


def test_lost_identity_reenrolls_once_a_provider_is_there(
    make_client: MakeClient, cloud: FakeCloud, clock: Clock
) -> None:
    client = make_client()
    client.enroll(cloud.new_code("u1"))
    _with_mirror_and_pending(client, cloud)
    old_device = client.status().device_id
    clock.advance(2 * HOUR_MS)  # the access token expired: the refresh is refused
    cloud.script = [FakeCloud.problem(401, "refresh_reused")]
    with pytest.raises(DeviceRevoked):
        client.sync()
    client.close()
    client = make_client(reenroll=lambda: cloud.new_code("u1"))
    sent = len(cloud.requests)
    outcome = client.sync()
    assert outcome.status is SyncStatus.SYNCED
    # Straight to the enrollment naming the lost identity; nothing sent with the old one.
    assert [r.path for r in cloud.requests[sent:]] == [ENROLL_PATH, SYNC_PATH]
    assert _enroll_replaces(cloud)[-1] == old_device
    assert outcome.requeued == 1 and client.status().pending == 0


def test_enroll_after_identity_loss_replaces_the_lost_identity(
    enrolled: EdgeClient, cloud: FakeCloud
) -> None:
    _with_mirror_and_pending(enrolled, cloud)
    old_device = enrolled.status().device_id
    cloud.only_device().revoked = True
    with pytest.raises(DeviceRevoked):
        enrolled.sync()
    new_device = enrolled.enroll(cloud.new_code("u1"))
    assert new_device != old_device
    assert _enroll_replaces(cloud)[-1] == old_device
    assert enrolled.status().identity_lost is None
    assert enrolled.sync().pushed == 1
    assert [m.day for m in cloud.devices[new_device].mutations] == [day_of(1)]


# --- 409 seq_conflict ------------------------------------------------------------------


def _store_restored_at_the_same_height(
    make_client: MakeClient,
    cloud: FakeCloud,
    db_path: Path,
    tmp_path: Path,
    reenroll: Callable[[], str] | None = None,
) -> EdgeClient:
    """The grant and 2 aggregates (seqs 1..3) are synced and backed up; after the backup the device
    queued and delivered seq 4; the restored store queues another seq 4, so its highest seq equals
    the cloud's ``last_seq`` and only the content differs."""
    client = make_client()
    client.enroll(cloud.new_code("u1"))
    grant_share_aggregates(client)
    for i in range(2):
        client.submit_aggregate(**aggregate(day_of(i)))
    client.sync()
    client.close()
    shutil.copy(db_path, tmp_path / "backup.db")
    client = make_client()
    client.submit_aggregate(**aggregate(day_of(2)))
    client.sync()
    client.close()
    shutil.copy(tmp_path / "backup.db", db_path)
    restored = make_client(reenroll=reenroll)
    restored.submit_aggregate(**aggregate(day_of(9)))
    return restored


def test_seq_conflict_without_provider_raises_rolled_back(
    make_client: MakeClient, cloud: FakeCloud, db_path: Path, tmp_path: Path
) -> None:
    client = _store_restored_at_the_same_height(make_client, cloud, db_path, tmp_path)
    before = client.store.state()
    with pytest.raises(DeviceStateRolledBack) as caught:
        client.sync()
    assert (caught.value.last_seq, caught.value.highest_seq_allocated) == (None, 4)
    assert "seq_conflict" in str(caught.value)
    after = client.store.state()
    assert (after.device_id, after.last_seq_acked, client.status().pending) == (before.device_id, 3, 1)
    assert len(cloud.only_device().mutations) == 4


def test_seq_conflict_reenrolls_and_delivers_the_new_mutation(
    make_client: MakeClient, cloud: FakeCloud, db_path: Path, tmp_path: Path
) -> None:
    client = _store_restored_at_the_same_height(
        make_client, cloud, db_path, tmp_path, reenroll=lambda: cloud.new_code("u1")
    )
    old_device = client.status().device_id
    outcome = client.sync()
    assert outcome.status is SyncStatus.SYNCED
    assert isinstance(outcome.rolled_back, DeviceStateRolledBack)
    assert outcome.requeued == 1
    new_device = client.status().device_id
    assert new_device != old_device
    assert cloud.devices[new_device].replaces == old_device  # type: ignore[index]
    days = [m.day for m in cloud.users["u1"].aggregates]
    assert sorted(days) == sorted(day_of(i) for i in (0, 1, 2, 9))


def test_same_mutation_pushed_again_is_a_plain_duplicate(enrolled: EdgeClient, cloud: FakeCloud) -> None:
    """The conflict check compares content: a lost reply's resend is not a conflict."""
    grant_share_aggregates(enrolled)
    enrolled.submit_aggregate(**aggregate(day_of(0)))
    cloud.script = [LoseReply()]
    enrolled.sync()
    assert enrolled.sync(force=True).status is SyncStatus.SYNCED
    assert len(cloud.only_device().mutations) == 2


# --- proactive refresh -----------------------------------------------------------------


def test_default_refresh_margin_is_60_seconds() -> None:
    settings = EdgeSettings(base_url="http://cloud.test", db_path="x.db")
    assert settings.refresh_margin_ms == 60_000


def test_token_expiring_within_a_minute_is_refreshed_before_sending(
    enrolled: EdgeClient, cloud: FakeCloud, clock: Clock
) -> None:
    clock.advance(HOUR_MS - 45_000)
    enrolled.sync()
    assert [r.path for r in cloud.requests[1:]] == [REFRESH_PATH, SYNC_PATH]


def test_token_valid_for_longer_is_used_as_is(enrolled: EdgeClient, cloud: FakeCloud, clock: Clock) -> None:
    clock.advance(HOUR_MS - 90_000)
    enrolled.sync()
    assert [r.path for r in cloud.requests[1:]] == [SYNC_PATH]
