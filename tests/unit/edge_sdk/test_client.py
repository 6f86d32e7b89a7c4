"""EdgeClient: local-first writes, bad input refused, readers with pending mutations overlaid."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edge_sdk.client import EdgeClient
from edge_sdk.errors import AlreadyEnrolled, EnrollmentFailed, InvalidMutation, InvalidSettings
from edge_sdk.overlay import overlay_consent
from edge_sdk.settings import EdgeSettings
from sync.messages import (
    ConsentState,
    ModelRelease,
    Notice,
    Offer,
    OfferRemoved,
    OfferUpsert,
    Profile,
    ProfileUpdate,
    SetConsent,
)
from tests.support.consent import grant_share_aggregates
from tests.unit.edge_sdk.conftest import MakeClient, aggregate
from tests.unit.edge_sdk.fakes import FakeCloud


def offer(offer_id: str, status: str = "offered", updated_at: int = 1) -> Offer:
    return Offer(
        offer_id=offer_id,
        status=status,  # type: ignore[arg-type]
        current_limit_cents=100_000,
        new_limit_cents=150_000,
        rate_bps=1_990,
        term_months=12,
        expires_at=2_000_000_000_000,
        reason_codes=["R1"],
        updated_at=updated_at,
    )


def test_writes_never_touch_the_network(make_client: MakeClient, cloud: FakeCloud) -> None:
    client = make_client()
    grant_share_aggregates(client)
    client.submit_aggregate(**aggregate("2024-03-01"))
    client.accept_offer("o1")
    client.decline_offer("o2", reason="not_now")
    client.set_consent("push", True)
    client.register_push_token("tok", "ios")
    client.ack_notice("n1")
    assert cloud.requests == []
    assert client.status().pending == 7
    assert [type(m).__name__ for m in client.store.pending()] == [
        "SetConsent",
        "SubmitAggregate",
        "AcceptOffer",
        "DeclineOffer",
        "SetConsent",
        "RegisterPushToken",
        "AckNotice",
    ]


BAD_WRITES: dict[str, Callable[[EdgeClient], Any]] = {
    "aggregate bad day string": lambda c: c.submit_aggregate(**aggregate("01/03/2024")),
    "aggregate impossible day": lambda c: c.submit_aggregate(**aggregate("2023-02-29")),
    "aggregate tz out of range": lambda c: c.submit_aggregate(**aggregate("2024-03-01", tz_offset_min=900)),
    "aggregate negative bucket": lambda c: c.submit_aggregate(**aggregate("2024-03-01", window_bucket=-1)),
    "aggregate level too high": lambda c: c.submit_aggregate(
        **aggregate("2024-03-01", levels={"stress": 16, "valence": 0, "arousal": 0})
    ),
    "aggregate levels missing field": lambda c: c.submit_aggregate(
        **aggregate("2024-03-01", levels={"stress": 1, "valence": 0})
    ),
    "aggregate epsilon zero": lambda c: c.submit_aggregate(
        **aggregate(
            "2024-03-01",
            mechanism={
                "stress": {"k": 4, "epsilon": 0.0},
                "valence": {"k": 4, "epsilon": 1.0},
                "arousal": {"k": 4, "epsilon": 1.0},
            },
        )
    ),
    "aggregate empty model version": lambda c: c.submit_aggregate(
        **aggregate("2024-03-01", model_version="")
    ),
    "aggregate unencodable levels": lambda c: c.submit_aggregate(**aggregate("2024-03-01", levels=object())),
    "accept empty offer id": lambda c: c.accept_offer(""),
    "accept overlong offer id": lambda c: c.accept_offer("o" * 65),
    "accept non-string offer id": lambda c: c.accept_offer(7),
    "decline empty offer id": lambda c: c.decline_offer(""),
    "decline overlong reason": lambda c: c.decline_offer("o1", reason="r" * 65),
    "consent unknown scope": lambda c: c.set_consent("telemetry", True),
    "consent non-bool": lambda c: c.set_consent("push", 1),
    "push token empty": lambda c: c.register_push_token(""),
    "push token too long": lambda c: c.register_push_token("t" * 4097),
    "push token unknown platform": lambda c: c.register_push_token("tok", "symbian"),
    "ack empty notice id": lambda c: c.ack_notice(""),
}


@pytest.mark.parametrize("write", BAD_WRITES.values(), ids=BAD_WRITES.keys())
def test_bad_input_raises_and_stores_nothing(
    make_client: MakeClient, write: Callable[[EdgeClient], Any]
) -> None:
    client = make_client()
    # The grant lets a bad aggregate reach validation instead of the consent gate.
    grant_share_aggregates(client)
    client.ack_notice("n0")
    with pytest.raises(InvalidMutation):
        write(client)
    status = client.status()
    assert (status.pending, status.highest_seq_allocated) == (2, 2)


def test_offer_overlay_shows_pending_answers(enrolled: EdgeClient, cloud: FakeCloud) -> None:
    for oid in ("o1", "o2", "o3"):
        cloud.append_change("u1", OfferUpsert(version=1, offer=offer(oid)))
    cloud.append_change("u1", OfferUpsert(version=1, offer=offer("o4", status="expired")))
    enrolled.sync()
    enrolled.accept_offer("o1")
    enrolled.decline_offer("o2")
    enrolled.accept_offer("o4")
    views = {v.offer_id: v for v in enrolled.offers()}
    assert (views["o1"].status, views["o1"].pending) == ("accepting", True)
    assert (views["o2"].status, views["o2"].pending) == ("declining", True)
    assert (views["o3"].status, views["o3"].pending) == ("offered", False)
    # An offer the cloud already closed shows the truth, not the pending answer.
    assert (views["o4"].status, views["o4"].pending) == ("expired", False)
    assert views["o1"].new_limit_cents == 150_000
    # The last answer wins.
    enrolled.decline_offer("o1")
    assert {v.offer_id: v.status for v in enrolled.offers()}["o1"] == "declining"


def test_offer_removed_and_stale_upsert_ignored(enrolled: EdgeClient, cloud: FakeCloud) -> None:
    cloud.append_change("u1", OfferUpsert(version=1, offer=offer("o1")))
    cloud.append_change("u1", OfferUpsert(version=1, offer=offer("o2")))
    cloud.append_change("u1", OfferRemoved(version=1, offer_id="o1"))
    enrolled.sync()
    assert [v.offer_id for v in enrolled.offers()] == ["o2"]
    # Replaying an older version of o2 does not overwrite the newer one.
    from edge_sdk.store import mirror

    with enrolled.store.atomic() as db:
        assert mirror.apply_change(db, OfferUpsert(version=1, offer=offer("o2", status="withdrawn"))) is (
            mirror.Applied.STALE
        )
    assert enrolled.offers()[0].status == "offered"


def test_notice_overlay_and_ack_kept_after_sync(enrolled: EdgeClient, cloud: FakeCloud) -> None:
    cloud.add_notice("u1", "n1")
    cloud.add_notice("u1", "n2")
    enrolled.sync()
    enrolled.ack_notice("n1")
    views = {n.notice_id: n for n in enrolled.notices()}
    assert (views["n1"].acked, views["n1"].pending) == (True, True)
    assert (views["n2"].acked, views["n2"].pending) == (False, False)
    enrolled.sync()
    assert cloud.users["u1"].acked == {"n1"}
    views = {n.notice_id: n for n in enrolled.notices()}
    assert (views["n1"].acked, views["n1"].pending) == (True, False)


def test_rebuilt_mirror_keeps_acked(enrolled: EdgeClient, cloud: FakeCloud) -> None:
    cloud.add_notice("u1", "n1")
    cloud.add_notice("u1", "n2")
    enrolled.sync()
    enrolled.ack_notice("n1")
    enrolled.sync()
    # The mirror is rebuilt from the change log (an invalid cursor, a re-enrollment): the
    # acknowledgement comes back as the cloud's acked Notice change, not from local memory.
    enrolled.store.reset_cursor()
    assert enrolled.notices() == []
    enrolled.sync()
    rows = {r.notice_id: r for r in enrolled.store.mirror_notices()}
    assert (rows["n1"].acked, rows["n1"].version) == (True, 3)
    assert (rows["n2"].acked, rows["n2"].version) == (False, 2)
    assert {n.notice_id: (n.acked, n.pending) for n in enrolled.notices()} == {
        "n1": (True, False),
        "n2": (False, False),
    }


def test_ack_on_another_device_reaches_the_mirror(
    enrolled: EdgeClient, make_client: MakeClient, cloud: FakeCloud, tmp_path: Path
) -> None:
    cloud.add_notice("u1", "n1")
    tablet = make_client(path=tmp_path / "tablet.db")
    tablet.enroll(cloud.new_code("u1"))
    enrolled.sync()
    tablet.sync()
    tablet.ack_notice("n1")
    tablet.sync()
    assert [n.acked for n in enrolled.notices()] == [False]
    enrolled.sync()
    assert [(n.acked, n.pending) for n in enrolled.notices()] == [(True, False)]
    assert enrolled.store.mirror_notices() == tablet.store.mirror_notices()


def test_notice_change_is_the_truth_for_acked(enrolled: EdgeClient) -> None:
    from edge_sdk.store import mirror

    def notice(version: int, acked: bool) -> Notice:
        return Notice(
            version=version, notice_id="n1", kind="k", title="t", body="b", created_at=1, acked=acked
        )

    with enrolled.store.atomic() as db:
        assert mirror.apply_change(db, notice(2, True)) is mirror.Applied.YES
        assert mirror.apply_change(db, notice(1, False)) is mirror.Applied.STALE
    assert [(r.acked, r.version) for r in enrolled.store.mirror_notices()] == [(True, 2)]
    with enrolled.store.atomic() as db:
        assert mirror.apply_change(db, notice(3, False)) is mirror.Applied.YES
    assert [(r.acked, r.version) for r in enrolled.store.mirror_notices()] == [(False, 3)]


def test_consent_overlay(enrolled: EdgeClient, cloud: FakeCloud) -> None:
    assert enrolled.consent().scopes == {"inference": False, "share_aggregates": False, "push": False}
    enrolled.set_consent("inference", True)
    enrolled.set_consent("push", True)
    enrolled.set_consent("push", False)
    view = enrolled.consent()
    assert view.scopes == {"inference": True, "share_aggregates": False, "push": False}
    assert view.pending == ["inference", "push"]
    enrolled.sync()
    view = enrolled.consent()
    assert view.scopes == {"inference": True, "share_aggregates": False, "push": False}
    assert view.pending == []


def test_consent_state_replaces_the_whole_map() -> None:
    pending = [SetConsent(seq=1, created_at=1, scope="push", granted=True)]  # type: ignore[arg-type]
    view = overlay_consent({"inference": True}, pending)
    assert view.scopes == {"inference": True, "share_aggregates": False, "push": True}


def test_profile_consent_and_model_release_mirrored(enrolled: EdgeClient, cloud: FakeCloud) -> None:
    assert enrolled.profile() is None
    profile = Profile(currency="EUR", limit_cents=100_000, used_cents=2_500, rate_bps=1_990, updated_at=5)
    cloud.append_change("u1", ProfileUpdate(version=1, profile=profile))
    cloud.append_change("u1", ConsentState(version=1, scopes={"share_aggregates": True}))  # type: ignore[dict-item]
    cloud.append_change(
        "u1",
        ModelRelease(
            version=1,
            release=2,
            model_version="m-2",
            feature_spec_version="features-v1",
            sha256="a" * 64,
            url="/v1/models/2",
        ),
    )
    enrolled.sync()
    assert enrolled.profile() == profile
    assert enrolled.consent().scopes["share_aggregates"] is True
    assert [m.model_version for m in enrolled.model_releases()] == ["m-2"]


def test_status_reports_identity_and_outbox(enrolled: EdgeClient, cloud: FakeCloud) -> None:
    grant_share_aggregates(enrolled)
    enrolled.submit_aggregate(**aggregate("2024-03-01"))
    status = enrolled.status()
    assert status.enrolled
    assert status.device_id == cloud.only_device().device_id
    assert status.user_id == "u1"
    assert (status.pending, status.highest_seq_allocated, status.last_sync_at) == (2, 2, None)


def test_enroll_refused_code(make_client: MakeClient) -> None:
    client = make_client()
    with pytest.raises(EnrollmentFailed) as caught:
        client.enroll("no-such-code")
    assert (caught.value.code, caught.value.status) == ("enrollment_code_invalid", 401)
    assert not client.status().enrolled


def test_enroll_twice_refused_without_spending_the_code(enrolled: EdgeClient, cloud: FakeCloud) -> None:
    code = cloud.new_code()
    with pytest.raises(AlreadyEnrolled):
        enrolled.enroll(code)
    assert code in cloud.codes


@pytest.mark.parametrize(
    "overrides",
    [
        {"base_url": "cloud.test"},
        {"push_batch": 501},
        {"push_batch": 0},
        {"pull_limit": 0},
        {"push_max_bytes": 2 * 1024 * 1024},
        {"max_exchanges": 0},
        {"backoff_base_s": 10.0, "backoff_cap_s": 1.0},
        {"timeout_s": 0},
    ],
)
def test_invalid_settings_refused(overrides: dict[str, Any]) -> None:
    values: dict[str, Any] = {"base_url": "http://cloud.test", "db_path": "x.db", **overrides}
    with pytest.raises(InvalidSettings):
        EdgeSettings(**values)
