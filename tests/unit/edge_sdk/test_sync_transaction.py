"""Each sync reply is applied in one local transaction (protocol §6.2, §6.4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_sdk.client import EdgeClient
from edge_sdk.crashpoints import SimulatedCrash, set_crash_hook
from edge_sdk.errors import DeviceStateRolledBack, ProtocolError
from sync.messages import MutationResult, Notice
from tests.support.consent import grant_share_aggregates
from tests.unit.edge_sdk.conftest import MakeClient, aggregate
from tests.unit.edge_sdk.fakes import FakeCloud


def _points_of_a_sync(make_client: MakeClient, cloud: FakeCloud, path: Path) -> list[str]:
    """The crash points one sync pushing a ``SetConsent`` meets, in order."""
    client = make_client(path=path)
    client.enroll(cloud.new_code("u1"))
    client.set_consent("share_aggregates", True)
    seen: list[str] = []
    set_crash_hook(seen.append)
    client.sync()
    set_crash_hook(None)
    return seen


def test_a_crash_anywhere_in_a_sync_never_shows_the_old_consent(
    make_client: MakeClient, cloud: FakeCloud, tmp_path: Path
) -> None:
    points = _points_of_a_sync(make_client, cloud, tmp_path / "probe.db")
    assert "after-push-before-ack" in points
    for point in points:
        path = tmp_path / f"{point}.db"
        client = make_client(path=path)
        client.enroll(cloud.new_code(f"user-{point}"))  # a fresh user: the cloud's consent is unset
        client.sync()
        client.set_consent("share_aggregates", True)
        assert client.consent().scopes["share_aggregates"] is True

        def crash(name: str, point: str = point) -> None:
            if name == point:
                raise SimulatedCrash(name)

        set_crash_hook(crash)
        with pytest.raises(SimulatedCrash):
            client.sync()
        set_crash_hook(None)
        client.close()
        # Offline after the crash: the overlay (still pending) or the mirror (acknowledged
        # together with the pulled ConsentState) shows the consent, never the old value.
        reopened = make_client(path=path)
        view = reopened.consent()
        assert view.scopes["share_aggregates"] is True, point
        if reopened.status().pending == 0:
            # The cloud's ConsentState lists every scope; the others were never set.
            expected = {"inference": False, "share_aggregates": True, "push": False}
            assert reopened.store.mirror_consent() == expected, point


def test_known_change_that_fails_to_decode_applies_only_the_ack(
    enrolled: EdgeClient, cloud: FakeCloud
) -> None:
    grant_share_aggregates(enrolled)
    enrolled.submit_aggregate(**aggregate("2024-03-01"))
    cloud.add_notice("u1", "n1")
    # A Notice without most of its fields: a known type the cloud sent broken.
    cloud.append_raw_change("u1", {"type": "Notice", "notice_id": "n2"})
    cloud.add_notice("u1", "n3")
    with pytest.raises(ProtocolError, match="undecodable change"):
        enrolled.sync()
    status = enrolled.status()
    # The acknowledgement is applied: the grant and the aggregate are not sent again.
    assert (status.pending, status.last_seq_acked) == (0, 2)
    assert len(cloud.only_device().mutations) == 2
    # Nothing of the reply's page is applied and the cursor does not move past it.
    assert enrolled.notices() == []
    assert enrolled.store.state().cursor is None
    # The normal backoff runs.
    assert (status.consecutive_failures, status.next_attempt_at is not None) == (1, True)
    assert "undecodable change" in (status.last_error or "")


def test_undecodable_change_is_not_skipped_on_the_next_sync_either(
    enrolled: EdgeClient, cloud: FakeCloud
) -> None:
    cloud.add_notice("u1", "n1")
    cloud.append_raw_change("u1", {"type": "ConsentState", "version": 0, "scopes": "nope"})
    with pytest.raises(ProtocolError):
        enrolled.sync()
    with pytest.raises(ProtocolError):
        enrolled.sync(force=True)
    assert enrolled.store.state().cursor is None
    assert enrolled.status().consecutive_failures == 2
    # Once the cloud serves the change correctly, the mirror catches up from the same cursor.
    user = cloud.users["u1"]
    user.changes = user.changes[:1]
    cloud.add_notice("u1", "n2")
    enrolled.sync(force=True)
    assert [n.notice_id for n in enrolled.notices()] == ["n1", "n2"]


def test_change_without_a_type_tag_is_a_defect_too(enrolled: EdgeClient, cloud: FakeCloud) -> None:
    cloud.add_notice("u1", "n1")
    cloud.append_raw_change("u1", {"payload": 1})
    with pytest.raises(ProtocolError, match="undecodable change"):
        enrolled.sync()
    assert enrolled.notices() == []


def test_rollback_check_comes_before_anything_is_applied(enrolled: EdgeClient, cloud: FakeCloud) -> None:
    grant_share_aggregates(enrolled)
    enrolled.submit_aggregate(**aggregate("2024-03-01"))
    cloud.add_notice("u1", "n1")
    cloud.only_device().last_seq = 9
    with pytest.raises(DeviceStateRolledBack):
        enrolled.sync()
    assert enrolled.status().pending == 2
    assert enrolled.notices() == []
    assert enrolled.store.state().cursor is None


def test_reply_applied_in_one_transaction(enrolled: EdgeClient, cloud: FakeCloud) -> None:
    """The store's one writer for a reply: a failure half way leaves nothing of it behind."""
    enrolled.ack_notice("n1")
    good = Notice(version=1, notice_id="n1", kind="k", title="t", body="b", created_at=1)
    bad = Notice(version=2, notice_id="n2", kind="k", title="t", body="b", created_at=1)
    bad.title = None  # type: ignore[assignment]  # violates NOT NULL when inserted
    with pytest.raises(Exception, match="NOT NULL"):
        enrolled.store.apply_reply(
            last_seq=1,
            results=[MutationResult(seq=1, status="applied")],
            changes=[good, bad],
            cursor="v1.2",
            skew_ms=0,
            now_ms=1,
        )
    state = enrolled.store.state()
    assert (enrolled.status().pending, state.last_seq_acked, state.cursor) == (1, 0, None)
    assert enrolled.store.mirror_notices() == []
