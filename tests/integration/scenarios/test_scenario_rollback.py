"""A store restored from an older copy: detected, re-enrolled, nothing lost (issue 2 §5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_sdk.crashpoints import SimulatedCrash, set_crash_hook
from edge_sdk.errors import DeviceStateRolledBack
from edge_sdk.sync_client.outcome import SyncStatus
from sync.messages import ConsentScope
from tests.integration.scenarios.devices import NewDevice, aggregate, days_stored
from tests.support.consent import grant_share_aggregates
from tests.support.live_server import LiveServer


class CodeProvider:
    """The host app's re-enrollment hook: asks the lender's backend (here the admin API) for a code."""

    def __init__(self, server: LiveServer, user_id: str) -> None:
        self.server = server
        self.user_id = user_id
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        return self.server.enrollment_code(self.user_id)


@pytest.mark.parametrize("crash", [None, "after-reenroll-before-store", "after-reenroll-before-resync"])
def test_rolled_back_store_reenrolls_and_loses_nothing(
    crash: str | None, scenario_server: LiveServer, new_device: NewDevice, tmp_path: Path
) -> None:
    user_id = scenario_server.create_user()
    provider = CodeProvider(scenario_server, user_id)
    device = new_device(scenario_server, "phone")
    old_id = device.client.enroll(scenario_server.enrollment_code(user_id))
    grant_share_aggregates(device.client)  # seq 1
    for index in range(2):
        device.client.submit_aggregate(**aggregate(index))
    assert device.client.sync().status is SyncStatus.SYNCED
    device.client.submit_aggregate(**aggregate(2))  # still pending in the backup
    device.backup(tmp_path / "backup.db")

    for index in (3, 4):
        device.client.submit_aggregate(**aggregate(index))
    device.client.set_consent(ConsentScope.PUSH, True)  # a consent the backup's mirror lacks
    assert device.client.sync().status is SyncStatus.SYNCED
    assert scenario_server.device(old_id, user_id)["last_seq"] == 7

    # Restored from the backup: seqs 5.. are reused for new data the cloud already "has".
    device.restore(tmp_path / "backup.db")
    device.client.submit_aggregate(**aggregate(5))
    with pytest.raises(DeviceStateRolledBack) as raised:
        device.client.sync()
    # Either answer proves the rollback: a last_seq above seq 5, or a conflict at seq 5.
    assert raised.value.highest_seq_allocated == 5
    assert raised.value.last_seq in (None, 7)
    assert device.client.status().pending == 2

    # The app wires its re-enrollment hook and syncs again.
    device.reenroll = provider
    device.restart()
    if crash is not None:

        def hook(point: str) -> None:
            if point == crash:
                raise SimulatedCrash(point)

        set_crash_hook(hook)
        with pytest.raises(SimulatedCrash):
            device.client.sync(force=True)
        set_crash_hook(None)
        device.restart()
    outcome = device.client.sync(force=True)

    assert outcome.status is SyncStatus.SYNCED
    status = device.client.status()
    new_id = status.device_id
    assert new_id is not None and new_id != old_id
    assert status.pending == 0
    if crash is None:
        assert outcome.rolled_back is not None and outcome.reenrolled_device_id == new_id
        assert outcome.requeued == 2
        assert provider.calls == 1
    view = scenario_server.user_view(user_id)
    devices = {d["device_id"]: d for d in view["devices"]}
    assert devices[old_id]["revoked"] and not devices[new_id]["revoked"]
    assert devices[new_id]["lineage_id"] == old_id
    # Nothing lost: every aggregate ever created is stored, and within the lineage only once.
    assert days_stored(view) == {aggregate(i)["day"]: 1 for i in range(6)}
    assert days_stored(view, new_id) == {aggregate(5)["day"]: 1}
    # Day 2 was delivered by the old identity and re-sent by the new one: the cloud refuses it
    # (not doubled), and the app is not told of a refusal, since the day is stored.
    assert device.client.rejections() == []
    # The mirror was rebuilt from the cloud after the new identity took over.
    assert device.client.store.mirror_consent() == view["consent"]
    assert view["consent"] == {"inference": False, "share_aggregates": True, "push": True}


def test_rollback_hidden_by_new_writes_loses_nothing(
    scenario_server: LiveServer, new_device: NewDevice, tmp_path: Path
) -> None:
    """After a restore the app writes more than the backup missed, so its highest seq catches up
    with the cloud's ``last_seq`` before the first sync: the rollback must still be noticed."""
    user_id = scenario_server.create_user()
    device = new_device(scenario_server, "phone", reenroll=CodeProvider(scenario_server, user_id))
    device.client.enroll(scenario_server.enrollment_code(user_id))
    grant_share_aggregates(device.client)
    device.client.submit_aggregate(**aggregate(0))
    assert device.client.sync().status is SyncStatus.SYNCED
    device.backup(tmp_path / "backup.db")
    for index in (1, 2):
        device.client.submit_aggregate(**aggregate(index))
    assert device.client.sync().status is SyncStatus.SYNCED

    device.restore(tmp_path / "backup.db")
    for index in (3, 4, 5):
        device.client.submit_aggregate(**aggregate(index))
    outcome = device.client.sync()
    assert outcome.status is SyncStatus.SYNCED
    assert outcome.rolled_back is not None and outcome.reenrolled_device_id is not None
    assert device.client.status().pending == 0

    view = scenario_server.user_view(user_id)
    assert days_stored(view) == {aggregate(i)["day"]: 1 for i in range(6)}
    assert days_stored(view, outcome.reenrolled_device_id) == {aggregate(i)["day"]: 1 for i in (3, 4, 5)}
