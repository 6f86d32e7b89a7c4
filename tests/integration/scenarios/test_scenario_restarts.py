"""Restarts: the SDK dies mid-sync at every crash point; the server is killed between syncs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_sdk.crashpoints import CRASHPOINTS, SimulatedCrash, set_crash_hook
from edge_sdk.errors import NotEnrolled, TransportError
from edge_sdk.sync_client.outcome import SyncStatus
from edge_sdk.sync_client.transport import SYNC_PATH, TransportRequest
from sync.messages import ConsentScope
from tests.integration.scenarios.devices import (
    DAY_MS,
    ManualClock,
    NewDevice,
    aggregate,
    assert_aggregate_stored,
)
from tests.support.consent import grant_share_aggregates
from tests.support.live_server import LiveServer

SYNC_POINTS = tuple(p for p in CRASHPOINTS if "enroll" not in p)
"""Every crash point of a sync; the enrollment ones have their own scenarios."""


def crash_at(point: str) -> None:
    def hook(name: str) -> None:
        if name == point:
            raise SimulatedCrash(name)

    set_crash_hook(hook)


@pytest.mark.parametrize("point", SYNC_POINTS)
def test_sdk_restart_mid_sync_converges(
    point: str, scenario_server: LiveServer, new_device: NewDevice
) -> None:
    user_id = scenario_server.create_user()
    scenario_server.add_notice(user_id, title="hello")
    clock = ManualClock()
    device = new_device(scenario_server, "phone", clock=clock)
    device_id = device.client.enroll(scenario_server.enrollment_code(user_id))
    grant_share_aggregates(device.client)
    for index in range(3):
        device.client.submit_aggregate(**aggregate(index))
    device.client.set_consent(ConsentScope.INFERENCE, True)
    if point.startswith("after-refresh"):
        clock.advance(DAY_MS)  # the access token has expired on the device's clock
    if point == "after-failure-before-backoff":
        device.transport.online = False

    crash_at(point)
    with pytest.raises(SimulatedCrash):
        device.client.sync(force=True)
    set_crash_hook(None)
    device.transport.online = True
    device.restart()

    outcome = device.client.sync(force=True)
    assert outcome.status is SyncStatus.SYNCED
    status = device.client.status()
    assert (status.pending, status.last_seq_acked, status.highest_seq_allocated) == (0, 5, 5)
    view = scenario_server.user_view(user_id)
    assert len(view["aggregates"]) == 3
    for index in range(3):
        assert_aggregate_stored(view, device_id, index)
    assert view["consent"] == {"inference": True, "share_aggregates": True, "push": False}
    assert device.client.store.mirror_consent() == view["consent"]
    assert [n.title for n in device.client.notices()] == ["hello"]
    assert device.client.rejections() == []


def test_sdk_restart_during_enrollment_needs_a_new_code(
    scenario_server: LiveServer, new_device: NewDevice
) -> None:
    user_id = scenario_server.create_user()
    device = new_device(scenario_server, "phone")
    grant_share_aggregates(device.client)
    device.client.submit_aggregate(**aggregate(0))
    crash_at("after-enroll-before-store")
    with pytest.raises(SimulatedCrash):
        device.client.enroll(scenario_server.enrollment_code(user_id))
    set_crash_hook(None)
    device.restart()

    # The cloud enrolled a device the app never heard of; the store is still unenrolled.
    with pytest.raises(NotEnrolled):
        device.client.sync()
    device_id = device.client.enroll(scenario_server.enrollment_code(user_id))
    assert device.client.sync().status is SyncStatus.SYNCED
    view = scenario_server.user_view(user_id)
    assert len(view["devices"]) == 2
    assert [a["device_id"] for a in view["aggregates"]] == [device_id]


@pytest.fixture
def own_server(redis_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """A server of this test alone: it is killed and restarted."""
    with LiveServer(tmp_path / "cloud", redis_url) as server:
        yield server


def test_server_restart_between_two_syncs(own_server: LiveServer, new_device: NewDevice) -> None:
    user_id = own_server.create_user()
    device = new_device(own_server, "phone")
    device_id = device.client.enroll(own_server.enrollment_code(user_id))
    device.client.set_consent(ConsentScope.SHARE_AGGREGATES, True)
    for index in range(3):
        device.client.submit_aggregate(**aggregate(index))
    assert device.client.sync().status is SyncStatus.SYNCED

    own_server.kill()
    device.client.submit_aggregate(**aggregate(3))
    down = device.client.sync()
    assert down.status is SyncStatus.RETRY_SCHEDULED and isinstance(down.error, TransportError)

    own_server.start()
    own_server.add_notice(user_id, title="after restart")
    up = device.client.sync(force=True)
    assert up.status is SyncStatus.SYNCED and up.pushed == 1

    view = own_server.user_view(user_id)
    assert len(view["aggregates"]) == 4
    for index in range(4):
        assert_aggregate_stored(view, device_id, index)
    assert view["consent"] == {"inference": False, "share_aggregates": True, "push": False}
    assert [n.title for n in device.client.notices()] == ["after restart"]
    assert (
        own_server.device(device_id, user_id)["last_seq"] == device.client.status().highest_seq_allocated == 5
    )


def test_server_killed_after_committing_a_push(own_server: LiveServer, new_device: NewDevice) -> None:
    user_id = own_server.create_user()
    device = new_device(own_server, "phone")
    device_id = device.client.enroll(own_server.enrollment_code(user_id))
    grant_share_aggregates(device.client)
    for index in range(2):
        device.client.submit_aggregate(**aggregate(index))

    def kill_before_reply(request: TransportRequest) -> None:
        if request.path == SYNC_PATH:
            own_server.kill()
            raise TransportError("server died before the reply")

    device.transport.on_delivered = kill_before_reply

    lost = device.client.sync()
    assert lost.status is SyncStatus.RETRY_SCHEDULED
    assert device.client.status().pending == 3
    # The push was committed before the kill: the restarted server still has it.
    own_server.start()
    assert own_server.device(device_id, user_id)["last_seq"] == 3

    device.transport.on_delivered = None
    again = device.client.sync(force=True)
    assert again.status is SyncStatus.SYNCED
    assert device.client.status().pending == 0
    assert device.client.rejections() == []
    view = own_server.user_view(user_id)
    assert len(view["aggregates"]) == 2
    for index in range(2):
        assert_aggregate_stored(view, device_id, index)
