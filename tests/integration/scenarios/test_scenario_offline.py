"""Offline-first: a month offline, and a device that never reached the server (issue 2 §5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_sdk.client import EdgeClient
from edge_sdk.errors import NotEnrolled, TransportError
from edge_sdk.settings import EdgeSettings
from edge_sdk.sync_client.outcome import SyncStatus
from edge_sdk.sync_client.transport import REFRESH_PATH, SYNC_PATH
from sync.messages import ConsentScope
from tests.integration.scenarios.devices import (
    DAY_MS,
    ManualClock,
    NewDevice,
    aggregate,
    assert_aggregate_stored,
    days_stored,
)
from tests.support.consent import grant_share_aggregates
from tests.support.live_server import LiveServer, free_port

OFFLINE_DAYS = 30


def test_a_month_offline_syncs_in_one_request(scenario_server: LiveServer, new_device: NewDevice) -> None:
    clock = ManualClock()
    device = new_device(scenario_server, "phone", clock=clock)
    client = device.client
    client.enroll(scenario_server.enrollment_code(scenario_server.create_user()))
    grant_share_aggregates(client)  # seq 1, delivered before the month offline
    assert client.sync().status is SyncStatus.SYNCED

    device.transport.online = False
    for index in range(OFFLINE_DAYS):
        clock.advance(DAY_MS)
        client.submit_aggregate(**aggregate(index))
        # The app tries every day; nothing raises and nothing waits on the network.
        outcome = client.sync()
        assert outcome.status in (SyncStatus.RETRY_SCHEDULED, SyncStatus.BACKING_OFF)
        assert outcome.next_attempt_at is not None and outcome.next_attempt_at > clock()
    status = client.status()
    assert status.pending == OFFLINE_DAYS
    assert status.consecutive_failures == OFFLINE_DAYS
    assert status.last_error is not None and "offline" in status.last_error
    assert device.transport.refused == OFFLINE_DAYS

    device.transport.online = True
    device.transport.delivered.clear()
    outcome = client.sync(force=True)

    assert outcome.status is SyncStatus.SYNCED
    assert outcome.pushed == OFFLINE_DAYS
    # A month of aggregates fits one exchange; the only other request renews the access token
    # that expired (on the device's clock) during the month.
    assert device.transport.delivered[SYNC_PATH] == 1
    assert device.transport.delivered[REFRESH_PATH] == 1
    status = client.status()
    assert (status.pending, status.consecutive_failures, status.next_attempt_at) == (0, 0, None)
    assert status.last_seq_acked == 1 + OFFLINE_DAYS
    view = scenario_server.user_view(status.user_id or "")
    assert days_stored(view) == {aggregate(i)["day"]: 1 for i in range(OFFLINE_DAYS)}
    for index in range(OFFLINE_DAYS):
        assert_aggregate_stored(view, status.device_id or "", index)


def test_a_device_that_never_reached_the_server_works_locally(
    scenario_server: LiveServer, tmp_path: Path
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    settings = EdgeSettings(base_url=nowhere, db_path=tmp_path / "phone.db", timeout_s=2.0)
    with EdgeClient(settings) as client:
        client.set_consent(ConsentScope.SHARE_AGGREGATES, True)
        for index in range(3):
            client.submit_aggregate(**aggregate(index))
        client.set_consent(ConsentScope.INFERENCE, True)
        client.set_consent(ConsentScope.INFERENCE, False)
        client.register_push_token("fcm-token-1")

        consent = client.consent()
        assert consent.scopes == {"inference": False, "share_aggregates": True, "push": False}
        assert consent.pending == ["inference", "share_aggregates"]
        assert (client.notices(), client.offers(), client.profile(), client.rejections()) == (
            [],
            [],
            None,
            [],
        )
        status = client.status()
        assert not status.enrolled and status.device_id is None
        assert (status.pending, status.highest_seq_allocated, status.last_seq_acked) == (7, 7, 0)
        assert (status.consecutive_failures, status.next_attempt_at, status.last_sync_at) == (0, None, None)

        with pytest.raises(NotEnrolled):
            client.sync()
        code = scenario_server.enrollment_code(scenario_server.create_user())
        with pytest.raises(TransportError):
            client.enroll(code)
        assert client.status() == status

    # Reopened later with the network back: the same code enrolls it, the first sync pushes it all.
    settings = EdgeSettings(base_url=scenario_server.base_url, db_path=tmp_path / "phone.db")
    with EdgeClient(settings) as client:
        assert client.status() == status
        device_id = client.enroll(code)
        outcome = client.sync()
        assert outcome.status is SyncStatus.SYNCED and outcome.pushed == 7
        assert client.consent().pending == []
        assert client.consent().scopes == {"inference": False, "share_aggregates": True, "push": False}
        view = scenario_server.user_view(client.status().user_id or "")
        assert view["consent"] == {"inference": False, "share_aggregates": True, "push": False}
        for index in range(3):
            assert_aggregate_stored(view, device_id, index)


def test_backoff_while_offline_is_persisted_and_honoured(
    scenario_server: LiveServer, new_device: NewDevice
) -> None:
    clock = ManualClock()
    device = new_device(scenario_server, "phone", clock=clock)
    device.client.enroll(scenario_server.enrollment_code(scenario_server.create_user()))
    grant_share_aggregates(device.client)
    device.client.submit_aggregate(**aggregate(0))
    device.transport.online = False

    first = device.client.sync()
    assert first.status is SyncStatus.RETRY_SCHEDULED
    assert isinstance(first.error, TransportError)
    assert first.next_attempt_at is not None and first.next_attempt_at > clock()
    attempts = device.transport.refused

    # While backing off, sync() returns at once without touching the network, even after a restart.
    device.restart()
    again = device.client.sync()
    assert again.status is SyncStatus.BACKING_OFF
    assert again.next_attempt_at == first.next_attempt_at
    assert device.transport.refused == attempts
    status = device.client.status()
    assert (status.consecutive_failures, status.next_attempt_at) == (1, first.next_attempt_at)

    # A forced sync tries anyway and doubles the backoff ceiling (jitter is fixed by the seed).
    second = device.client.sync(force=True)
    assert second.status is SyncStatus.RETRY_SCHEDULED
    assert device.client.status().consecutive_failures == 2
    assert second.next_attempt_at is not None

    # Once the time has come and the network is back, the next plain sync() goes through.
    clock.advance(max(0, second.next_attempt_at - clock()) + 1)
    device.transport.online = True
    done = device.client.sync()
    assert done.status is SyncStatus.SYNCED and done.pushed == 2
    status = device.client.status()
    assert (status.pending, status.consecutive_failures, status.next_attempt_at) == (0, 0, None)
