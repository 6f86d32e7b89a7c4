"""Store conformance: erasing a user, an erased user's devices pulling their ``Wipe``, and the purge
of their rows. Run per backend by the conftest."""

from __future__ import annotations

import msgspec
import pytest

from cloud.push.messages import PushOutcome, PushPayload, PushResult
from cloud.store import Store
from cloud.store.errors import ErasureBlocked, UserErased, UserNotFound
from cloud.store.records import OutboxState, RefreshGrant, RotationKind, WipedPurge
from cloud.store.scripts.erasure import WIPE_REDELIVERY_MS
from sync.codec import decode_change
from sync.messages import AcceptOffer, ConsentScope, Platform, RegisterPushToken, SetConsent, Wipe
from tests.conformance.test_store_conformance import DAY_MS, NOW, aggregate, enrolled, item, sharing, sync
from tests.conformance.test_store_conformance_outbox import results
from tests.conformance.test_store_credit_conformance import DAY, features, profile, terms

pytestmark = pytest.mark.anyio


async def populated(store: Store) -> None:
    """usr_1 with two devices, consent, an aggregate, a notice, a profile and features, an open
    offer, a push token and the offer's ping, pending after an attempt FCM asked to retry; usr_2
    beside it, untouched."""
    for user_id in ("usr_1", "usr_2"):
        await sharing(store, user_id)
        device_id = await enrolled(store, user_id, f"dev_{user_id}", refresh_hash=f"rt-{user_id}")
        pushed = [
            item(aggregate(1)),
            item(SetConsent(seq=2, created_at=NOW, scope=ConsentScope.PUSH, granted=True)),
            item(RegisterPushToken(seq=3, created_at=NOW, token=f"tok-{user_id}", platform=Platform.ANDROID)),
        ]
        assert [r.status for r in (await sync(store, device_id, pushed)).results] == ["applied"] * 3
        await store.append_notice(
            user_id=user_id, notice_id=f"ntc_{user_id}", kind="info", title="hi", body="b", now=NOW
        )
        await store.set_profile(profile(user_id), actor="admin", reason_code="profile_set")
        await store.set_credit_features(features(user_id))
        created = await store.create_offer_and_ping(terms(user_id, f"off_{user_id}"), actor="admin", now=NOW)
        (ping,) = created.outbox
        plan = await store.push_plan(ping.outbox_id)
        assert plan is not None
        retry = [
            PushResult(token=t.token, outcome=PushOutcome.RETRY, error_code="UNAVAILABLE")
            for t in plan.targets
        ]
        await store.record_push(
            ping.outbox_id,
            user_id=user_id,
            sender="fcm",
            sent=results(plan.targets, plan.payload, retry),
            attempt=0,
            retry_at=NOW + 60_000,
            now=NOW + 1,
        )
        assert len(await store.push_attempts(user_id)) == 1


async def test_erasure_leaves_a_tombstone_the_money_records_and_one_wipe(store: Store) -> None:
    await populated(store)
    (before,) = [u for u in await store.list_users() if u.user_id == "usr_1"]
    other_before = await store.user_view("usr_2")

    done = await store.erase_user("usr_1", actor="operator:ana", address="10.0.0.7", now=NOW + 5)

    assert (done.already_erased, done.devices_to_wipe, done.offers_withdrawn) == (False, 2, ["off_usr_1"])
    assert done.pushes_cancelled == 1  # the offer's ping, waiting for its retry
    (ping,) = done.outbox
    assert msgspec.json.decode(ping.payload, type=PushPayload) == PushPayload(user_id="usr_1", erasure=True)
    user = await store.get_user("usr_1")
    assert user is not None
    assert (user.erased_at, user.external_ref, user.version) == (NOW + 5, None, before.version + 2)
    view = await store.user_view("usr_1")
    assert (view.consent, view.notices, view.aggregates) == ({}, [], [])
    assert len(view.devices) == 2 and all(not d.revoked for d in view.devices)
    # Money records stay: the profile, and the offer withdrawn with its reason in the audit.
    assert view.profile is not None and view.profile.limit_cents == profile().limit_cents
    assert [(o.offer_id, o.status) for o in view.offers] == [("off_usr_1", "withdrawn")]
    last = (await store.audit_trail(user_id="usr_1"))[-1]
    assert (last.to_status, last.actor, last.reason_code) == ("withdrawn", "operator:ana", "user_erased")
    assert await store.get_credit_features("usr_1") is None
    assert await store.push_attempts("usr_1") == []
    assert await store.enrollment_codes("usr_1") == []
    # The change log is the Wipe alone, at a version no device has seen.
    (wipe,) = await store.change_log("usr_1")
    assert decode_change(wipe.body) == Wipe(version=before.version + 2, reason="user_erased")
    # The aggregate is off the population counts; the other user's is still there.
    groups = await store.aggregate_groups("2024-01-01", "2024-01-01")
    assert sum(g.count for g in groups) == 1
    events = await store.page_auth_audit(after=None, limit=5)
    assert (events[0].event, events[0].actor, events[0].address, events[0].detail) == (
        "user_erased",
        "operator:ana",
        "10.0.0.7",
        "user=usr_1",
    )
    assert await store.user_view("usr_2") == other_before


async def test_pending_evaluations_and_pushes_are_cancelled(store: Store) -> None:
    await enrolled(store)
    await store.set_profile(profile(), actor="admin", reason_code="profile_set")
    await store.set_credit_features(features())
    requested = await store.request_evaluation("usr_1", "eval_1", trigger="admin", day=DAY, now=NOW)

    done = await store.erase_user("usr_1", actor="admin", address=None, now=NOW + 5)

    assert (done.evaluations_cancelled, done.outbox) == (1, [])  # no push token: no ping
    (row,) = [r for r in await store.list_outbox() if r.outbox_id == requested.outbox.outbox_id]
    assert (row.state, row.last_error) == (OutboxState.CANCELLED, "cancelled: the user was erased")
    # The job finds nothing to do, and the evaluation (it produced no offer) is gone.
    assert await store.evaluation_inputs(requested.outbox.outbox_id) is None
    assert await store.list_evaluations("usr_1") == []


async def test_an_accepted_offer_blocks_erasure_and_nothing_changes(store: Store) -> None:
    await enrolled(store)
    await store.set_profile(profile(), actor="admin", reason_code="profile_set")
    await store.create_offer(terms(), actor="admin", now=NOW)
    accepted = await sync(store, "dev_1", [item(AcceptOffer(seq=1, created_at=NOW, offer_id="off_1"))])
    assert [r.status for r in accepted.results] == ["applied"]
    before = await store.user_view("usr_1")

    with pytest.raises(ErasureBlocked, match="off_1"):
        await store.erase_user("usr_1", actor="admin", address=None, now=NOW + 5)

    assert await store.user_view("usr_1") == before
    assert await store.page_auth_audit(after=None, limit=5) == []


async def test_erasing_twice_or_an_unknown_user(store: Store) -> None:
    await enrolled(store)
    first = await store.erase_user("usr_1", actor="admin", address=None, now=NOW + 5)
    again = await store.erase_user("usr_1", actor="admin", address=None, now=NOW + 9)
    assert (again.already_erased, again.erased_at, again.devices_to_wipe) == (True, NOW + 5, 1)
    assert len(await store.change_log("usr_1")) == 1
    assert first.erased_at == again.erased_at
    with pytest.raises(UserNotFound):
        await store.erase_user("usr_nobody", actor="admin", address=None, now=NOW)


async def test_writes_naming_an_erased_user_are_refused(store: Store) -> None:
    await enrolled(store)
    await store.set_profile(profile(), actor="admin", reason_code="profile_set")
    await store.set_credit_features(features())
    await store.erase_user("usr_1", actor="admin", address=None, now=NOW + 5)
    refused = [
        store.append_notice(user_id="usr_1", notice_id="n2", kind="info", title="t", body="b", now=NOW),
        store.create_enrollment_code("usr_1", "code-again", NOW + DAY_MS, NOW),
        store.set_profile(profile(), actor="admin", reason_code="profile_set"),
        store.set_credit_features(features()),
        store.create_offer(terms(), actor="admin", now=NOW),
        store.request_evaluation("usr_1", "eval_1", trigger="admin", day=DAY, now=NOW),
        store.export_user("usr_1", actor="admin", address=None, now=NOW),
    ]
    for call in refused:
        with pytest.raises(UserErased):
            await call
    assert len(await store.change_log("usr_1")) == 1


async def test_an_erased_user_without_devices_loses_the_wipe_at_the_next_purge(store: Store) -> None:
    await store.create_user("usr_1", "crm-1", NOW)
    await store.erase_user("usr_1", actor="admin", address=None, now=NOW + 5)
    assert len(await store.change_log("usr_1")) == 1
    assert await store.purge_wiped_devices(now=NOW + 6, limit=10) == WipedPurge(devices=0, users=1)
    assert await store.change_log("usr_1") == []


async def test_an_erased_users_device_gets_only_the_wipe(store: Store) -> None:
    await enrolled(store)
    await store.append_notice(user_id="usr_1", notice_id="n1", kind="info", title="t", body="b", now=NOW)
    await store.erase_user("usr_1", actor="admin", address=None, now=NOW + 5)

    # Whatever it pushes is refused and not kept; the page is the Wipe, even for a push-only request.
    pushed = [
        item(aggregate(1)),
        item(SetConsent(seq=2, created_at=NOW, scope=ConsentScope.PUSH, granted=True)),
    ]
    outcome = await sync(store, "dev_1", pushed, after=0, limit=0)

    assert outcome.erased
    assert [(r.seq, r.status, r.code) for r in outcome.results] == [
        (1, "rejected", "user_erased"),
        (2, "rejected", "user_erased"),
    ]
    assert [decode_change(c.body) for c in outcome.changes] == [Wipe(version=2, reason="user_erased")]
    assert outcome.last_seq == 0
    assert await store.processed_mutations("dev_1") == []
    assert (await store.user_view("usr_1")).consent == {}


async def test_wiped_and_expired_devices_are_purged_then_the_wipe(store: Store) -> None:
    await enrolled(store, device_id="dev_wiped", refresh_hash="rt-wiped")
    await enrolled(store, device_id="dev_offline", refresh_hash="rt-offline")
    await enrolled(store, device_id="dev_stolen", refresh_hash="rt-stolen")
    await enrolled(store, "usr_2", "dev_other", refresh_hash="rt-other")
    # Rows that name the devices: digests, push tokens, a closed lineage.
    for device_id in ("dev_wiped", "dev_offline"):
        token = RegisterPushToken(seq=1, created_at=NOW, token=f"tok-{device_id}", platform=Platform.ANDROID)
        await sync(store, device_id, [item(token)])
    await store.revoke_device("dev_stolen", NOW + 2, stolen=True)
    await store.erase_user("usr_1", actor="admin", address=None, now=NOW + 5)
    await sync(store, "dev_wiped", [])  # pulls the Wipe at NOW + 1

    # The stolen device's tokens are revoked: it could never pull its Wipe, and goes at once.
    assert (await store.purge_wiped_devices(now=NOW + 6, limit=10)).devices == 1
    assert await store.get_device("dev_stolen") is None
    # Within the redelivery grace and the refresh lifetime nothing goes: a lost reply can be resent.
    assert (await store.purge_wiped_devices(now=NOW + WIPE_REDELIVERY_MS, limit=10)).devices == 0
    # After the grace the wiped device goes; the offline one keeps its rows (and the Wipe) until
    # its refresh token expires.
    assert (await store.purge_wiped_devices(now=NOW + WIPE_REDELIVERY_MS + 2, limit=10)).devices == 1
    assert await store.get_device("dev_wiped") is None
    assert await store.get_device("dev_offline") is not None
    assert len(await store.change_log("usr_1")) == 1
    assert (await store.purge_wiped_devices(now=NOW + 90 * DAY_MS, limit=10)).devices == 1
    assert [d.device_id for d in await store.list_devices()] == ["dev_other"]
    assert await store.change_log("usr_1") == []
    assert await store.push_tokens("usr_1") == []
    assert await store.processed_mutations("dev_offline") == []
    # The tombstone stays: versions never repeat, and the user id is never reused.
    user = await store.get_user("usr_1")
    assert user is not None and user.erased_at == NOW + 5 and user.version == 1
    # The purged device is unknown: its refresh token is refused as invalid.
    rotated = await store.rotate_refresh(
        device_id="dev_offline",
        presented_hash="rt-offline",
        successor=RefreshGrant(token_hash="rt-next", expires_at=NOW + 91 * DAY_MS),
        cached_successor=b"pair",
        grace_ms=0,
        now=NOW + 90 * DAY_MS,
    )
    assert rotated.kind is RotationKind.INVALID
