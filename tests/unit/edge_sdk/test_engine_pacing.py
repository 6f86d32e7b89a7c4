"""How one sync() paces itself: wide gaps, repeated gap answers, 413, Retry-After, body size."""

from __future__ import annotations

import msgspec
import pytest

from edge_sdk.client import EdgeClient
from edge_sdk.errors import ProtocolError, TransportError
from edge_sdk.sync_client.outcome import SyncStatus
from edge_sdk.sync_client.transport import TransportResponse
from sync.codec import MediaType, decode_request
from sync.messages import SubmitAggregate, Withdrawn
from tests.support.consent import grant_share_aggregates
from tests.unit.edge_sdk.conftest import MakeClient, aggregate, day_of
from tests.unit.edge_sdk.fakes import Clock, FakeCloud

MSGPACK = {"content-type": "application/msgpack"}


def pushed_seqs(cloud: FakeCloud, media: MediaType = MediaType.MSGPACK) -> list[list[int]]:
    return [[m.seq for m in decode_request(r.body, media).push] for r in cloud.sync_requests()]


def gap_reply(expected_seq: int, last_seq: int = 0) -> TransportResponse:
    body = msgspec.msgpack.encode(
        {
            "type": "SyncReply",
            "protocol": 1,
            "last_seq": last_seq,
            "expected_seq": expected_seq,
            "server_time": 1,
        }
    )
    return TransportResponse(200, body, MSGPACK)


# --- gaps ------------------------------------------------------------------------


def test_gap_wider_than_a_batch_is_filled_batch_after_batch(
    make_client: MakeClient, cloud: FakeCloud
) -> None:
    client = make_client(push_batch=2)
    client.enroll(cloud.new_code())
    grant_share_aggregates(client)  # seq 1; the aggregates take 2..6
    for i in range(5):
        client.submit_aggregate(**aggregate(day_of(i)))
    client.sync()
    # The cloud loses seqs 3..6 (restored from an older backup of its own).
    device = cloud.only_device()
    device.last_seq = 2
    device.mutations = device.mutations[:2]
    client.submit_aggregate(**aggregate(day_of(10)))
    cloud.requests.clear()
    outcome = client.sync()
    assert outcome.status is SyncStatus.SYNCED
    assert client.status().pending == 0
    assert device.last_seq == 7
    assert pushed_seqs(cloud) == [[7], [3, 4], [5, 6], [7]]
    kinds = [type(m) for r in cloud.sync_requests()[1:3] for m in decode_request(r.body).push]
    assert kinds == [Withdrawn] * 4
    assert [type(m) for m in device.mutations[2:]] == [Withdrawn] * 4 + [SubmitAggregate]


def test_alternating_gap_answers_are_a_protocol_error(enrolled: EdgeClient, cloud: FakeCloud) -> None:
    grant_share_aggregates(enrolled)
    for i in range(3):
        enrolled.submit_aggregate(**aggregate(day_of(i)))
    cloud.script = [gap_reply(1), gap_reply(2), gap_reply(1), gap_reply(2)]
    with pytest.raises(ProtocolError, match="keeps asking for seq 1"):
        enrolled.sync()
    assert len(cloud.sync_requests()) == 3
    assert enrolled.status().pending == 4
    assert enrolled.status().next_attempt_at is not None


def test_distinct_gap_answers_are_followed(enrolled: EdgeClient, cloud: FakeCloud) -> None:
    grant_share_aggregates(enrolled)  # seq 1; the aggregates take 2..6
    for i in range(5):
        enrolled.submit_aggregate(**aggregate(day_of(i)))
    enrolled.sync()
    device = cloud.only_device()
    device.last_seq = 3  # the cloud lost seqs 4..6
    enrolled.submit_aggregate(**aggregate(day_of(5)))

    def lose_more() -> None:
        device.last_seq = 2  # and while the device resends them, it loses seq 3 as well

    cloud.script = [lambda: None, lose_more]
    cloud.requests.clear()
    outcome = enrolled.sync()
    assert outcome.status is SyncStatus.SYNCED
    assert pushed_seqs(cloud) == [[7], [4, 5, 6, 7], [3, 4, 5, 6, 7]]
    assert device.last_seq == 7


# --- Retry-After -----------------------------------------------------------------------


def _busy(status: int, retry_after_s: int) -> TransportResponse:
    problem = FakeCloud.problem(status, "rate_limited" if status == 429 else "unavailable")
    return TransportResponse(status, problem.body, {**problem.headers, "Retry-After": str(retry_after_s)})


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_does_not_count_as_a_failure(
    enrolled: EdgeClient, cloud: FakeCloud, clock: Clock, status: int
) -> None:
    cloud.script = [TransportError("offline"), _busy(status, 120)]
    enrolled.sync()
    assert enrolled.status().consecutive_failures == 1
    outcome = enrolled.sync(force=True)
    assert outcome.status is SyncStatus.RETRY_SCHEDULED
    assert outcome.next_attempt_at == clock() + 120_000
    assert enrolled.status().consecutive_failures == 1
    # A failure after it goes on from the same exponent: random() is 0.5, base 1 s -> 2 s * 0.5.
    cloud.script = [TransportError("offline")]
    outcome = enrolled.sync(force=True)
    assert (enrolled.status().consecutive_failures, outcome.next_attempt_at) == (2, clock() + 1_000)


def test_503_without_retry_after_counts_as_a_failure(enrolled: EdgeClient, cloud: FakeCloud) -> None:
    cloud.script = [FakeCloud.problem(503, "unavailable")]
    enrolled.sync()
    assert enrolled.status().consecutive_failures == 1


# --- 413 and the byte budget -------------------------------------------------------------


def test_413_halves_the_batch_for_the_rest_of_the_call(make_client: MakeClient, cloud: FakeCloud) -> None:
    client = make_client(push_batch=8)
    client.enroll(cloud.new_code())
    # 16 mutations: the grant (seq 1) and 15 aggregates.
    grant_share_aggregates(client)
    for i in range(15):
        client.submit_aggregate(**aggregate(day_of(i)))
    cloud.script = [FakeCloud.problem(413, "too_many_mutations")]
    outcome = client.sync()
    assert outcome.status is SyncStatus.SYNCED
    assert [len(b) for b in pushed_seqs(cloud)] == [8, 4, 4, 4, 4]
    assert cloud.only_device().last_seq == 16
    # The next call starts from the configured batch again.
    for i in range(15, 23):
        client.submit_aggregate(**aggregate(day_of(i)))
    cloud.requests.clear()
    client.sync()
    assert [len(b) for b in pushed_seqs(cloud)] == [8]


def test_body_too_large_shrinks_until_the_cloud_takes_it(make_client: MakeClient, cloud: FakeCloud) -> None:
    client = make_client()
    client.enroll(cloud.new_code())
    for _ in range(10):
        client.register_push_token("t" * 1000)
    cloud.max_body_bytes = 2500
    outcome = client.sync()
    assert outcome.status is SyncStatus.SYNCED
    sizes = [len(r.body) for r in cloud.sync_requests()]
    counts = [len(b) for b in pushed_seqs(cloud)]
    # 10 -> 5 -> 2 mutations per request (each also halving the byte budget), then 2 at a time.
    assert counts == [10, 5, 2, 2, 2, 2, 2]
    assert all(size <= 2500 for size in sizes[2:])
    assert cloud.only_device().last_seq == 10


def test_413_for_a_single_mutation_raises_without_looping(enrolled: EdgeClient, cloud: FakeCloud) -> None:
    enrolled.register_push_token("t" * 3000)
    cloud.max_body_bytes = 1000
    with pytest.raises(ProtocolError) as caught:
        enrolled.sync()
    assert (caught.value.status, caught.value.code) == (413, "body_too_large")
    assert len(cloud.sync_requests()) == 1
    assert enrolled.status().pending == 1
    assert enrolled.status().next_attempt_at is not None


@pytest.mark.parametrize("media", [MediaType.MSGPACK, MediaType.JSON])
def test_byte_budget_measures_the_request_as_sent(
    make_client: MakeClient, cloud: FakeCloud, media: MediaType
) -> None:
    client = make_client(push_max_bytes=4096, media_type=media)
    client.enroll(cloud.new_code())
    # Quotes take two bytes each in JSON, one in msgpack: stored sizes say nothing of the body.
    for _ in range(12):
        client.register_push_token('"' * 1000)
    outcome = client.sync()
    assert outcome.status is SyncStatus.SYNCED
    sizes = [len(r.body) for r in cloud.sync_requests()]
    assert max(sizes) <= 4096
    assert cloud.only_device().last_seq == 12
    # Still as full as the budget allows: no request could have taken one more mutation.
    per_request = [len(b) for b in pushed_seqs(cloud, media)]
    assert sum(per_request) == 12
    assert per_request[0] == (3 if media is MediaType.MSGPACK else 1)
