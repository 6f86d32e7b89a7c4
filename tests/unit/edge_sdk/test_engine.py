"""Sync engine behaviour against the scripted fake cloud (the Transport seam stands for the network)."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import msgspec
import pytest

from edge_sdk.client import EdgeClient
from edge_sdk.errors import (
    AuthenticationFailed,
    DeviceRevoked,
    DeviceStateRolledBack,
    NotEnrolled,
    ProtocolError,
    TransportError,
)
from edge_sdk.sync_client.outcome import SyncStatus
from edge_sdk.sync_client.transport import ENROLL_PATH, REFRESH_PATH, SYNC_PATH, TransportResponse
from sync.codec import MediaType, decode_enroll, decode_request
from sync.messages import SubmitAggregate, Wipe, Withdrawn
from tests.support.consent import grant_share_aggregates
from tests.unit.edge_sdk.conftest import MakeClient, aggregate, day_of
from tests.unit.edge_sdk.fakes import Clock, FakeCloud, LoseReply


def pushed_seqs(cloud: FakeCloud) -> list[list[int]]:
    return [[m.seq for m in decode_request(r.body).push] for r in cloud.sync_requests()]


def test_sync_pushes_outbox_and_pulls_changes(enrolled: EdgeClient, cloud: FakeCloud) -> None:
    enrolled.set_consent("share_aggregates", True)
    enrolled.submit_aggregate(**aggregate("2024-03-01"))
    cloud.add_notice("u1", "n1")
    outcome = enrolled.sync()
    assert outcome.status is SyncStatus.SYNCED
    assert (outcome.pushed, outcome.exchanges) == (2, 1)
    device = cloud.only_device()
    assert [type(m).__name__ for m in device.mutations] == ["SetConsent", "SubmitAggregate"]
    assert [a.day for a in cloud.users["u1"].aggregates] == ["2024-03-01"]
    assert enrolled.status().pending == 0
    assert enrolled.status().last_seq_acked == 2
    # The ConsentState written by the push comes back in the same exchange's pull.
    assert enrolled.consent().scopes["share_aggregates"] is True
    assert enrolled.consent().pending == []
    assert [n.notice_id for n in enrolled.notices()] == ["n1"]
    assert enrolled.status().last_sync_at is not None


def test_writes_before_enrollment_are_kept_and_pushed(make_client: MakeClient, cloud: FakeCloud) -> None:
    client = make_client()
    grant_share_aggregates(client)
    client.submit_aggregate(**aggregate("2024-03-01"))
    with pytest.raises(NotEnrolled):
        client.sync()
    client.enroll(cloud.new_code())
    assert client.sync().pushed == 2
    assert [m.seq for m in cloud.only_device().mutations] == [1, 2]


def test_more_than_500_mutations_go_in_ascending_batches(enrolled: EdgeClient, cloud: FakeCloud) -> None:
    grant_share_aggregates(enrolled)
    for i in range(1203):
        enrolled.submit_aggregate(**aggregate(day_of(i)))
    outcome = enrolled.sync()
    assert outcome.pushed == 1204
    batches = pushed_seqs(cloud)
    assert [len(b) for b in batches] == [500, 500, 204]
    flat = [s for b in batches for s in b]
    assert flat == list(range(1, 1205))
    assert len(cloud.only_device().mutations) == 1204


def test_push_batch_is_cut_by_bytes_under_the_body_limit(make_client: MakeClient, cloud: FakeCloud) -> None:
    client = make_client(push_max_bytes=20_000)
    client.enroll(cloud.new_code())
    for _ in range(12):
        client.register_push_token("t" * 4000)
    client.sync()
    sizes = [len(r.body) for r in cloud.sync_requests()]
    assert len(sizes) == 3
    assert all(size < 20_000 + 1024 for size in sizes)
    assert cloud.only_device().last_seq == 12


def test_pull_pages_until_has_more_is_false(make_client: MakeClient, cloud: FakeCloud) -> None:
    client = make_client(pull_limit=3)
    client.enroll(cloud.new_code())
    for i in range(8):
        cloud.add_notice("u1", f"n{i}")
    outcome = client.sync()
    assert outcome.exchanges == 3
    assert outcome.pulled == 8
    assert [n.notice_id for n in client.notices()] == [f"n{i}" for i in range(8)]
    # Pull is idempotent: a second sync brings nothing new.
    assert client.sync().pulled == 0


def test_lost_reply_is_resent_and_counted_once(enrolled: EdgeClient, cloud: FakeCloud) -> None:
    grant_share_aggregates(enrolled)
    enrolled.submit_aggregate(**aggregate("2024-03-01"))
    cloud.script = [LoseReply()]
    outcome = enrolled.sync()
    assert outcome.status is SyncStatus.RETRY_SCHEDULED
    assert isinstance(outcome.error, TransportError)
    assert enrolled.status().pending == 2
    outcome = enrolled.sync(force=True)
    assert outcome.status is SyncStatus.SYNCED
    assert len(cloud.only_device().mutations) == 2
    assert len(cloud.users["u1"].aggregates) == 1
    assert enrolled.status().pending == 0


def test_a_refusal_whose_reply_was_lost_is_recorded_from_the_replay(
    enrolled: EdgeClient, cloud: FakeCloud
) -> None:
    seq = enrolled.accept_offer("off_gone")  # the fake cloud knows no offer: unknown_offer
    cloud.script = [LoseReply()]
    assert enrolled.sync().status is SyncStatus.RETRY_SCHEDULED
    assert enrolled.rejections() == []
    outcome = enrolled.sync(force=True)
    assert outcome.status is SyncStatus.SYNCED
    # Processed once; the resend was answered with the recorded refusal, marked as a replay.
    assert len(cloud.only_device().mutations) == 1
    assert [(r.seq, r.code) for r in outcome.rejected] == [(seq, "unknown_offer")]
    assert [(r.seq, r.type, r.code) for r in enrolled.rejections()] == [(seq, "AcceptOffer", "unknown_offer")]


def test_gap_answer_resends_from_expected_seq_with_tombstones(enrolled: EdgeClient, cloud: FakeCloud) -> None:
    grant_share_aggregates(enrolled)  # seq 1; the aggregates take 2..6
    for i in range(5):
        enrolled.submit_aggregate(**aggregate(day_of(i)))
    enrolled.sync()
    # The cloud loses seqs 4..6 (restored from an older backup of its own).
    device = cloud.only_device()
    device.last_seq = 3
    device.mutations = device.mutations[:3]
    enrolled.submit_aggregate(**aggregate(day_of(10)))
    cloud.requests.clear()
    outcome = enrolled.sync()
    assert outcome.status is SyncStatus.SYNCED
    assert pushed_seqs(cloud) == [[7], [4, 5, 6, 7]]
    resent = decode_request(cloud.sync_requests()[1].body).push
    assert [type(m) for m in resent] == [Withdrawn, Withdrawn, Withdrawn, SubmitAggregate]
    assert device.last_seq == 7
    assert enrolled.status().pending == 0


def test_gap_for_still_pending_seqs_resends_them(enrolled: EdgeClient, cloud: FakeCloud) -> None:
    grant_share_aggregates(enrolled)
    for i in range(3):
        enrolled.submit_aggregate(**aggregate(day_of(i)))
    # First exchange reaches the cloud only with seq 4 (reordered delivery dropped 1..3):
    # the cloud answers a gap and the engine resends 1..4.
    gap_reply = msgspec.msgpack.encode(
        {
            "type": "SyncReply",
            "protocol": 1,
            "last_seq": 0,
            "expected_seq": 1,
            "server_time": 1,
            "cursor": "v1.0",
        }
    )
    cloud.script = [TransportResponse(200, gap_reply, {"content-type": "application/msgpack"})]
    outcome = enrolled.sync()
    assert outcome.status is SyncStatus.SYNCED
    assert pushed_seqs(cloud) == [[1, 2, 3, 4], [1, 2, 3, 4]]
    assert [m.seq for m in cloud.only_device().mutations] == [1, 2, 3, 4]


def test_repeated_gap_for_the_same_seq_is_a_protocol_error(enrolled: EdgeClient, cloud: FakeCloud) -> None:
    grant_share_aggregates(enrolled)
    enrolled.submit_aggregate(**aggregate("2024-03-01"))
    gap = msgspec.msgpack.encode(
        {"type": "SyncReply", "protocol": 1, "last_seq": 0, "expected_seq": 1, "server_time": 1}
    )
    cloud.script = [TransportResponse(200, gap, {"content-type": "application/msgpack"})] * 2
    with pytest.raises(ProtocolError, match="keeps asking"):
        enrolled.sync()
    assert enrolled.status().pending == 2
    assert enrolled.status().next_attempt_at is not None


def test_401_refreshes_once_then_retries(enrolled: EdgeClient, cloud: FakeCloud) -> None:
    grant_share_aggregates(enrolled)
    enrolled.submit_aggregate(**aggregate("2024-03-01"))
    cloud.expire_access_tokens()
    outcome = enrolled.sync()
    assert outcome.status is SyncStatus.SYNCED
    paths = [r.path for r in cloud.requests[1:]]
    assert paths == [SYNC_PATH, REFRESH_PATH, SYNC_PATH]
    device = cloud.only_device()
    creds = enrolled.store.credentials()
    assert creds is not None
    assert (creds.access_token, creds.refresh_token) == (device.access_token, device.refresh_token)


def test_401_after_refresh_raises_authentication_failed(enrolled: EdgeClient, cloud: FakeCloud) -> None:
    unauthorized = FakeCloud.problem(401, "token_invalid")
    cloud.script = [unauthorized, lambda: None, unauthorized]
    with pytest.raises(AuthenticationFailed):
        enrolled.sync()
    assert [r.path for r in cloud.requests[1:]] == [SYNC_PATH, REFRESH_PATH, SYNC_PATH]
    assert enrolled.sync().status is SyncStatus.BACKING_OFF


@pytest.mark.parametrize(
    "answer", [(401, "refresh_reused"), (401, "refresh_invalid"), (403, "device_revoked")]
)
def test_refused_refresh_raises_device_revoked(
    enrolled: EdgeClient, cloud: FakeCloud, answer: tuple[int, str]
) -> None:
    cloud.script = [FakeCloud.problem(401, "token_expired"), FakeCloud.problem(*answer)]
    with pytest.raises(DeviceRevoked) as caught:
        enrolled.sync()
    assert caught.value.code == answer[1]


def test_revoked_device_on_sync_raises(enrolled: EdgeClient, cloud: FakeCloud) -> None:
    cloud.only_device().revoked = True
    with pytest.raises(DeviceRevoked):
        enrolled.sync()


def test_concurrent_refreshes_make_one_request(enrolled: EdgeClient, cloud: FakeCloud) -> None:
    creds = enrolled.store.credentials()
    assert creds is not None
    auth = enrolled._auth
    barrier = threading.Barrier(4)
    tokens: list[str] = []

    def refresh() -> None:
        barrier.wait()
        tokens.append(auth.refresh(creds.access_token))

    threads = [threading.Thread(target=refresh) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.path for r in cloud.requests].count(REFRESH_PATH) == 1
    assert len(set(tokens)) == 1


def test_expiring_access_token_is_refreshed_before_sending(
    enrolled: EdgeClient, cloud: FakeCloud, clock: Clock
) -> None:
    clock.advance(2 * 3_600_000)
    enrolled.sync()
    assert [r.path for r in cloud.requests[1:]] == [REFRESH_PATH, SYNC_PATH]


def test_429_retry_after_is_honoured(enrolled: EdgeClient, cloud: FakeCloud, clock: Clock) -> None:
    busy = FakeCloud.problem(429, "rate_limited", retry_after_s=120)
    busy = TransportResponse(429, busy.body, {**busy.headers, "Retry-After": "120"})
    cloud.script = [busy]
    outcome = enrolled.sync()
    assert outcome.status is SyncStatus.RETRY_SCHEDULED
    assert outcome.next_attempt_at == clock() + 120_000
    sent = len(cloud.requests)
    clock.advance(119_000)
    waiting = enrolled.sync()
    assert waiting.status is SyncStatus.BACKING_OFF
    assert waiting.next_attempt_at == outcome.next_attempt_at
    assert len(cloud.requests) == sent
    clock.advance(1_000)
    assert enrolled.sync().status is SyncStatus.SYNCED


def test_503_without_header_uses_problem_retry_after(
    enrolled: EdgeClient, cloud: FakeCloud, clock: Clock
) -> None:
    cloud.script = [FakeCloud.problem(503, "unavailable", retry_after_s=30)]
    assert enrolled.sync().next_attempt_at == clock() + 30_000


def test_force_skips_the_backoff(enrolled: EdgeClient, cloud: FakeCloud) -> None:
    cloud.script = [TransportError("offline")]
    assert enrolled.sync().status is SyncStatus.RETRY_SCHEDULED
    assert enrolled.sync().status is SyncStatus.BACKING_OFF
    assert enrolled.sync(force=True).status is SyncStatus.SYNCED
    assert enrolled.status().consecutive_failures == 0
    assert enrolled.status().next_attempt_at is None


def test_backoff_grows_with_full_jitter_and_is_capped(
    make_client: MakeClient, cloud: FakeCloud, clock: Clock
) -> None:
    client = make_client(backoff_base_s=1.0, backoff_cap_s=10.0)
    client.enroll(cloud.new_code())
    delays = []
    for _ in range(6):
        cloud.script = [FakeCloud.problem(500, "internal")]
        outcome = client.sync(force=True)
        assert outcome.next_attempt_at is not None
        delays.append(outcome.next_attempt_at - clock())
    # random() is 0.5 in these tests: half of min(cap, base * 2**(n-1)).
    assert delays == [500, 1000, 2000, 4000, 5000, 5000]
    assert client.status().consecutive_failures == 6


def test_backoff_survives_a_restart(
    make_client: MakeClient, cloud: FakeCloud, clock: Clock, db_path: Path
) -> None:
    client = make_client()
    client.enroll(cloud.new_code())
    cloud.script = [TransportError("offline"), TransportError("offline")]
    client.sync()
    outcome = client.sync(force=True)
    client.close()
    reopened = make_client()
    assert reopened.status().consecutive_failures == 2
    sent = len(cloud.requests)
    waiting = reopened.sync()
    assert waiting.status is SyncStatus.BACKING_OFF
    assert waiting.next_attempt_at == outcome.next_attempt_at
    assert len(cloud.requests) == sent
    assert outcome.next_attempt_at is not None
    clock.now_ms = outcome.next_attempt_at
    assert reopened.sync().status is SyncStatus.SYNCED


def test_unexpected_error_answer_raises_protocol_error_and_backs_off(
    enrolled: EdgeClient, cloud: FakeCloud
) -> None:
    cloud.script = [FakeCloud.problem(413, "too_many_mutations")]
    with pytest.raises(ProtocolError) as caught:
        enrolled.sync()
    assert caught.value.code == "too_many_mutations"
    assert enrolled.status().next_attempt_at is not None


def test_undecodable_reply_is_a_protocol_error(enrolled: EdgeClient, cloud: FakeCloud) -> None:
    cloud.script = [TransportResponse(200, b"\xc1garbage", {"content-type": "application/msgpack"})]
    with pytest.raises(ProtocolError, match="undecodable"):
        enrolled.sync()


def test_invalid_cursor_resets_the_mirror_and_pulls_again(enrolled: EdgeClient, cloud: FakeCloud) -> None:
    for i in range(3):
        cloud.add_notice("u1", f"n{i}")
    enrolled.sync()
    assert enrolled.store.state().cursor == "v1.3"
    # The cloud's change log was restored to an older state: our cursor is ahead of it.
    cloud.users["u1"].changes.clear()
    cloud.add_notice("u1", "n9")
    outcome = enrolled.sync()
    assert outcome.status is SyncStatus.SYNCED
    assert [n.notice_id for n in enrolled.notices()] == ["n9"]


def test_unknown_change_type_is_skipped(enrolled: EdgeClient, cloud: FakeCloud) -> None:
    cloud.add_notice("u1", "n1")
    cloud.append_raw_change("u1", {"type": "FutureChange", "payload": [1, 2]})
    cloud.add_notice("u1", "n2")
    outcome = enrolled.sync()
    assert (outcome.pulled, outcome.skipped_changes) == (2, 1)
    assert [n.notice_id for n in enrolled.notices()] == ["n1", "n2"]
    assert enrolled.store.state().cursor == "v1.3"


def test_wipe_erases_store_credentials_and_identity(enrolled: EdgeClient, cloud: FakeCloud) -> None:
    cloud.add_notice("u1", "n1")
    grant_share_aggregates(enrolled)
    enrolled.sync()
    enrolled.submit_aggregate(**aggregate("2024-03-01"))
    cloud.append_change("u1", Wipe(version=1, reason="user_erased"))
    outcome = enrolled.sync()
    assert outcome.status is SyncStatus.WIPED
    status = enrolled.status()
    assert (status.enrolled, status.device_id, status.pending, status.highest_seq_allocated) == (
        False,
        None,
        0,
        0,
    )
    assert enrolled.store.credentials() is None
    assert enrolled.notices() == []
    assert enrolled.store.state().cursor is None
    with pytest.raises(NotEnrolled):
        enrolled.sync()


def test_skew_estimated_from_server_time(enrolled: EdgeClient, cloud: FakeCloud) -> None:
    cloud.server_offset_ms = -5_000  # the device runs 5 s ahead
    enrolled.sync()
    assert enrolled.status().skew_ms == 5_000


def test_next_sync_hint_from_the_cloud(enrolled: EdgeClient, cloud: FakeCloud, clock: Clock) -> None:
    cloud.next_sync_after_s = 60
    enrolled.sync()
    assert enrolled.status().next_sync_hint_at == clock() + 60_000
    # The hint does not gate sync(); only failures do.
    assert enrolled.sync().status is SyncStatus.SYNCED


def test_max_exchanges_returns_more_pending(make_client: MakeClient, cloud: FakeCloud) -> None:
    client = make_client(push_batch=2, max_exchanges=2)
    client.enroll(cloud.new_code())
    grant_share_aggregates(client)  # 6 mutations: two exchanges of 2 leave 2 pending
    for i in range(5):
        client.submit_aggregate(**aggregate(day_of(i)))
    first = client.sync()
    assert (first.status, first.pushed) == (SyncStatus.MORE_PENDING, 4)
    assert client.sync().status is SyncStatus.SYNCED
    assert client.status().pending == 0


def test_rejected_mutation_is_recorded_and_deleted(enrolled: EdgeClient, cloud: FakeCloud) -> None:
    enrolled.accept_offer("o-unknown")
    outcome = enrolled.sync()
    assert [(r.seq, r.type, r.code) for r in outcome.rejected] == [(1, "AcceptOffer", "unknown_offer")]
    assert [r.code for r in enrolled.rejections()] == ["unknown_offer"]
    assert enrolled.status().pending == 0
    assert enrolled.status().rejected == 1


def test_json_media_type_end_to_end(make_client: MakeClient, cloud: FakeCloud) -> None:
    client = make_client(media_type=MediaType.JSON)
    client.enroll(cloud.new_code())
    grant_share_aggregates(client)
    client.submit_aggregate(**aggregate("2024-03-01"))
    cloud.add_notice("u1", "n1")
    assert client.sync().pushed == 2
    request = cloud.sync_requests()[0]
    assert request.content_type == "application/json"
    assert [m.seq for m in decode_request(request.body, MediaType.JSON).push] == [1, 2]
    assert [a.day for a in cloud.users["u1"].aggregates] == ["2024-03-01"]
    assert [n.notice_id for n in client.notices()] == ["n1"]


# --- rollback ----------------------------------------------------------------------


def _rolled_back_client(
    make_client: MakeClient, cloud: FakeCloud, db_path: Path, tmp_path: Path, reenroll: object = None
) -> EdgeClient:
    """Sync the grant and 2 aggregates (seqs 1..3), back the file up with seq 4 pending, sync 3 more
    (5..7), restore the backup, queue 2 new ones (5..6)."""
    client = make_client()
    client.enroll(cloud.new_code())
    grant_share_aggregates(client)
    for i in range(2):
        client.submit_aggregate(**aggregate(day_of(i)))
    client.sync()
    client.submit_aggregate(**aggregate(day_of(2)))  # pending in the backup
    client.close()
    backup = tmp_path / "backup.db"
    shutil.copy(db_path, backup)
    client = make_client()
    for i in range(3, 6):
        client.submit_aggregate(**aggregate(day_of(i)))
    client.sync()
    client.close()
    shutil.copy(backup, db_path)
    restored = make_client(reenroll=reenroll)  # type: ignore[arg-type]
    for i in range(6, 8):
        restored.submit_aggregate(**aggregate(day_of(i)))
    return restored


@pytest.mark.parametrize("seq_conflicts", [True, False], ids=["seq_conflict", "last_seq_above"])
def test_rollback_detected_without_provider_raises(
    make_client: MakeClient, cloud: FakeCloud, db_path: Path, tmp_path: Path, seq_conflicts: bool
) -> None:
    client = _rolled_back_client(make_client, cloud, db_path, tmp_path)
    # The restored store pushes seqs 4..6; the cloud processed other mutations at 5 and 6.
    # Either it answers 409 seq_conflict, or (without that check) its last_seq 7 shows it.
    cloud.check_seq_conflicts = seq_conflicts
    before = client.store.state()
    with pytest.raises(DeviceStateRolledBack) as caught:
        client.sync()
    last_seq = None if seq_conflicts else 7
    assert (caught.value.last_seq, caught.value.highest_seq_allocated) == (last_seq, 6)
    after = client.store.state()
    assert (after.device_id, after.highest_seq_allocated, client.status().pending) == (before.device_id, 6, 3)


def test_rollback_reenrolls_and_requeues_pending(
    make_client: MakeClient, cloud: FakeCloud, db_path: Path, tmp_path: Path
) -> None:
    codes = []

    def provider() -> str:
        codes.append(cloud.new_code("u1"))
        return codes[-1]

    client = _rolled_back_client(make_client, cloud, db_path, tmp_path, reenroll=provider)
    old_device = client.status().device_id
    outcome = client.sync()
    assert outcome.status is SyncStatus.SYNCED
    assert isinstance(outcome.rolled_back, DeviceStateRolledBack)
    assert outcome.requeued == 3
    assert len(codes) == 1
    status = client.status()
    assert status.device_id == outcome.reenrolled_device_id != old_device
    assert (status.pending, status.highest_seq_allocated, status.last_seq_acked) == (0, 3, 3)
    new_device = cloud.devices[status.device_id]  # type: ignore[index]
    assert [m.seq for m in new_device.mutations] == [1, 2, 3]
    days = {m.day for m in cloud.users["u1"].aggregates}
    # Nothing the device ever created is lost on the cloud side.
    assert days == {day_of(i) for i in range(8)}
    # The new identity names the one it replaces, which the cloud revoked.
    assert new_device.replaces == old_device
    assert cloud.devices[old_device].revoked  # type: ignore[index]
    assert client.store.state().replacing_device_id is None


def _enroll_requests(cloud: FakeCloud) -> list[str | None]:
    """``replaces_device_id`` of every enrollment request, in order."""
    return [
        decode_enroll(r.body, MediaType(r.content_type)).replaces_device_id
        for r in cloud.requests
        if r.path == ENROLL_PATH
    ]


def test_reenrollment_after_a_lost_reply_never_syncs_as_the_revoked_identity(
    make_client: MakeClient, cloud: FakeCloud, db_path: Path, tmp_path: Path
) -> None:
    client = _rolled_back_client(make_client, cloud, db_path, tmp_path, reenroll=lambda: cloud.new_code("u1"))
    old_device = client.status().device_id
    # The rollback is detected; the cloud enrolls the replacement (revoking the old identity),
    # but its answer never arrives.
    cloud.script = [lambda: None, LoseReply()]
    outcome = client.sync()
    assert outcome.status is SyncStatus.RETRY_SCHEDULED
    assert client.store.state().replacing_device_id == old_device
    assert client.status().device_id == old_device
    syncs_before = len(cloud.sync_requests())

    outcome = client.sync(force=True)
    assert outcome.status is SyncStatus.SYNCED
    new_device = client.status().device_id
    assert outcome.reenrolled_device_id == new_device != old_device
    # Straight to a second enrollment for the same old identity; no request as the old one.
    assert _enroll_requests(cloud)[-2:] == [old_device, old_device]
    first_after = decode_request(cloud.sync_requests()[syncs_before].body)
    assert first_after.device_id == new_device
    assert client.status().pending == 0 and client.store.state().replacing_device_id is None
    assert {m.day for m in cloud.devices[new_device].mutations} == {day_of(i) for i in (2, 6, 7)}  # type: ignore[index]


def test_reply_above_highest_allocated_never_deletes(enrolled: EdgeClient, cloud: FakeCloud) -> None:
    grant_share_aggregates(enrolled)
    enrolled.submit_aggregate(**aggregate("2024-03-01"))
    cloud.only_device().last_seq = 40
    with pytest.raises(DeviceStateRolledBack):
        enrolled.sync()
    assert enrolled.status().pending == 2
