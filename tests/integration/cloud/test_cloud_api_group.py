"""Two API processes on one PostgreSQL database behind the tests' round-robin balancer (the shape
the PostgreSQL chaos run uses): one device's requests alternate between the processes and each
process honours the other's tokens and writes; a killed process is skipped; with both down the
balancer answers 502 and nothing is written; a restarted process serves again."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sync.messages import ConsentScope, SetConsent
from tests.support.api_group import ApiGroup
from tests.support.databases import Databases
from tests.support.live_server import post_sync, sample_aggregate, sync_body, sync_ok

pytestmark = pytest.mark.postgres


def grant(seq: int = 1) -> SetConsent:
    scope = ConsentScope.SHARE_AGGREGATES
    return SetConsent(seq=seq, created_at=1_704_067_200_000, scope=scope, granted=True)


@pytest.fixture(scope="module")
def group(
    redis_url: str, tmp_path_factory: pytest.TempPathFactory, databases: Databases
) -> Iterator[ApiGroup]:
    url = databases.url("postgres")
    assert url is not None
    with ApiGroup(tmp_path_factory.mktemp("api-group"), redis_url, 2, {"DATABASE_URL": url}) as group:
        yield group


@pytest.fixture
def running(group: ApiGroup) -> ApiGroup:
    group.start()
    return group


def test_one_device_alternates_between_processes_and_each_sees_the_others_writes(running: ApiGroup) -> None:
    tokens = running.new_device()
    assert sync_ok(running, tokens, [grant()]).last_seq == 1
    served = [running.balancer.last_backend]
    for seq in range(2, 6):
        reply = sync_ok(running, tokens, [sample_aggregate(seq, day=f"2024-01-0{seq}")])
        served.append(running.balancer.last_backend)
        # Each process continues the sequence the other one advanced.
        assert reply.last_seq == seq
        assert [result.status for result in reply.results] == ["applied"]
    assert set(served) == {0, 1}, served
    days = {row["day"] for row in running.user_view(tokens.user_id)["aggregates"]}
    assert days == {f"2024-01-0{seq}" for seq in range(2, 6)}


def test_a_killed_process_is_skipped(running: ApiGroup) -> None:
    tokens = running.new_device()
    running.kill(0)
    for seq, mutation in enumerate([grant(), sample_aggregate(2)], start=1):
        assert sync_ok(running, tokens, [mutation]).last_seq == seq
        assert running.balancer.last_backend == 1


def test_with_every_process_down_the_balancer_answers_502_and_nothing_is_written(running: ApiGroup) -> None:
    tokens = running.new_device()
    running.kill()
    response = post_sync(running, tokens.access_token, sync_body(tokens.device_id, [grant()]))
    assert response.status_code == 502
    running.start()
    assert sync_ok(running, tokens).last_seq == 0
    assert sync_ok(running, tokens, [grant()]).last_seq == 1
