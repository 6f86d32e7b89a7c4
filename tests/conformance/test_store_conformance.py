"""Behaviour every :class:`cloud.store.Store` backend must have (run per backend by the conftest)."""

from __future__ import annotations

import asyncio
from typing import cast

import msgspec
import pytest

from cloud.domain.consent.rules import SUPERSEDED
from cloud.domain.offers.errors import InvalidOfferTerms, OfferClosed, OfferNotFound, ProfileMissing
from cloud.domain.sync.digest import invalid_mutation_digest, mutation_digest
from cloud.settings import DatabaseSettings
from cloud.store import Store, open_store
from cloud.store.errors import (
    CursorAhead,
    DeviceNotFound,
    DeviceRevoked,
    EnrollmentCodeExpired,
    EnrollmentCodeInvalid,
    EnrollmentCodeUsed,
    ReplacesDeviceInvalid,
    SeqConflict,
    UserNotFound,
)
from cloud.store.records import (
    AggregateGroupRecord,
    OfferTerms,
    ProfileRecord,
    PushItem,
    RefreshGrant,
    RotationKind,
    RotationOutcome,
    SyncOutcome,
)
from cloud.store.tx_store import TxStore
from sync.codec import MediaType, decode_change
from sync.messages import (
    AcceptOffer,
    AckNotice,
    ConsentScope,
    ConsentState,
    DeclineOffer,
    FieldMechanism,
    Levels,
    Mechanism,
    Mutation,
    Notice,
    OfferStatus,
    OfferUpsert,
    Platform,
    ProfileUpdate,
    RegisterPushToken,
    SetConsent,
    SubmitAggregate,
    Withdrawn,
)

pytestmark = pytest.mark.anyio

NOW = 1_700_000_000_000
DAY_MS = 86_400_000


def aggregate(seq: int, day: str = "2024-01-01") -> SubmitAggregate:
    m = FieldMechanism(k=4, epsilon=1.0)
    return SubmitAggregate(
        seq=seq,
        created_at=NOW,
        day=day,
        tz_offset_min=0,
        window_bucket=2,
        levels=Levels(stress=0, valence=1, arousal=2),
        mechanism=Mechanism(stress=m, valence=m, arousal=m),
        model_version="m1",
    )


def item(mutation: Mutation) -> PushItem:
    return PushItem(seq=mutation.seq, mutation=mutation, digest=mutation_digest(mutation))


def invalid_item(seq: int, raw: bytes = b'{"seq": 1, "type": "Nonsense"}', error: str = "bad") -> PushItem:
    return PushItem(seq=seq, mutation=None, digest=invalid_mutation_digest(raw, MediaType.JSON), error=error)


async def enrolled(
    store: Store,
    user_id: str = "usr_1",
    device_id: str = "dev_1",
    refresh_hash: str = "rt0",
    replaces: str | None = None,
) -> str:
    if await store.get_user(user_id) is None:
        await store.create_user(user_id, None, NOW)
    await store.create_enrollment_code(user_id, f"code-{device_id}", NOW + DAY_MS, NOW)
    await store.enroll_device(
        code_hash=f"code-{device_id}",
        device_id=device_id,
        platform="android",
        app_version="1.0",
        refresh=RefreshGrant(token_hash=refresh_hash, expires_at=NOW + 90 * DAY_MS),
        now=NOW,
        replaces_device_id=replaces,
    )
    return device_id


async def sync(
    store: Store, device_id: str, items: list[PushItem], after: int = 0, limit: int = 100
) -> SyncOutcome:
    return await store.sync(
        device_id=device_id, items=items, skew_ms=5, after_version=after, pull_limit=limit, now=NOW + 1
    )


async def sharing(store: Store, user_id: str = "usr_1") -> None:
    """Grant ``share_aggregates`` for the user through the protocol, as an app does before it sends
    aggregates: a ``SetConsent`` synced by a device of the user's own (``dev_consent_<user>``), so
    the seqs of the devices a test watches stay its own. The cloud stores aggregates only under a
    recorded grant."""
    device_id = await enrolled(store, user_id, f"dev_consent_{user_id}", refresh_hash=f"rt-consent-{user_id}")
    grant = SetConsent(seq=1, created_at=NOW, scope=ConsentScope.SHARE_AGGREGATES, granted=True)
    outcome = await sync(store, device_id, [item(grant)])
    assert [r.status for r in outcome.results] == ["applied"]


# --- migrations and lifecycle -----------------------------------------------------------


async def test_migrate_is_idempotent(store: Store) -> None:
    assert await store.migrate() == []
    await store.ping()


async def test_data_survives_reopen(database: DatabaseSettings) -> None:
    settings = database
    first = await open_store(settings)
    assert await first.migrate() != []
    await enrolled(first)
    await sync(first, "dev_1", [item(aggregate(1))])
    await first.close()
    second = await open_store(settings)
    try:
        assert await second.migrate() == []
        device = await second.get_device("dev_1")
        assert device is not None and device.last_seq == 1
    finally:
        await second.close()


# --- users and enrollment ---------------------------------------------------------------


async def test_create_and_get_user(store: Store) -> None:
    created = await store.create_user("usr_a", "ref", NOW)
    assert await store.get_user("usr_a") == created
    assert created.version == 0
    assert await store.get_user("usr_missing") is None


async def test_enrollment_code_for_unknown_user(store: Store) -> None:
    with pytest.raises(UserNotFound):
        await store.create_enrollment_code("usr_missing", "h", NOW + 1, NOW)


async def test_enroll_device(store: Store) -> None:
    await enrolled(store)
    device = await store.get_device("dev_1")
    assert device is not None
    assert (device.user_id, device.platform, device.last_seq, device.revoked) == (
        "usr_1",
        "android",
        0,
        False,
    )
    assert [d.device_id for d in await store.list_devices("usr_1")] == ["dev_1"]
    assert await store.list_devices("usr_other") == []


@pytest.mark.parametrize(
    ("code_hash", "now", "error"),
    [
        ("unknown", NOW, EnrollmentCodeInvalid),
        ("code-dev_1", NOW, EnrollmentCodeUsed),
        ("late", NOW + DAY_MS, EnrollmentCodeExpired),
    ],
)
async def test_enroll_rejections_change_nothing(
    store: Store, code_hash: str, now: int, error: type[Exception]
) -> None:
    await enrolled(store)
    await store.create_enrollment_code("usr_1", "late", NOW + DAY_MS, NOW)
    with pytest.raises(error):
        await store.enroll_device(
            code_hash=code_hash,
            device_id="dev_2",
            platform="ios",
            app_version="",
            refresh=RefreshGrant(token_hash="rt-x", expires_at=NOW + DAY_MS),
            now=now,
        )
    assert await store.get_device("dev_2") is None
    assert [d.device_id for d in await store.list_devices("usr_1")] == ["dev_1"]


async def test_replacing_device_joins_its_lineage_and_revokes_it(store: Store) -> None:
    await enrolled(store)
    old = await store.get_device("dev_1")
    assert old is not None and old.lineage_id == "dev_1"
    await enrolled(store, device_id="dev_2", refresh_hash="rt-b", replaces="dev_1")
    new, old = await store.get_device("dev_2"), await store.get_device("dev_1")
    assert new is not None and (new.lineage_id, new.revoked) == ("dev_1", False)
    assert old is not None and old.revoked
    assert (await rotate(store, "rt0", "rt1")).kind is RotationKind.DEVICE_REVOKED
    # The lineage continues through a second replacement.
    await enrolled(store, device_id="dev_3", refresh_hash="rt-c", replaces="dev_2")
    third = await store.get_device("dev_3")
    assert third is not None and third.lineage_id == "dev_1"


async def test_replacing_a_revoked_device_again_revokes_the_unused_one(store: Store) -> None:
    # The answer to the first re-enrollment was lost: the device asks again for the same old id.
    await enrolled(store)
    await enrolled(store, device_id="dev_lost", refresh_hash="rt-b", replaces="dev_1")
    await enrolled(store, device_id="dev_2", refresh_hash="rt-c", replaces="dev_1")
    devices = {d.device_id: d for d in await store.list_devices("usr_1")}
    assert {d: (r.lineage_id, r.revoked) for d, r in devices.items()} == {
        "dev_1": ("dev_1", True),
        "dev_lost": ("dev_1", True),
        "dev_2": ("dev_1", False),
    }


@pytest.mark.parametrize("replaces", ["dev_other", "dev_missing"])
async def test_replacing_a_device_not_of_the_user_changes_nothing(store: Store, replaces: str) -> None:
    await enrolled(store)
    await enrolled(store, user_id="usr_2", device_id="dev_other", refresh_hash="rt-o")
    await store.create_enrollment_code("usr_1", "code-x", NOW + DAY_MS, NOW)
    with pytest.raises(ReplacesDeviceInvalid):
        await store.enroll_device(
            code_hash="code-x",
            device_id="dev_2",
            platform="ios",
            app_version="",
            refresh=RefreshGrant(token_hash="rt-x", expires_at=NOW + DAY_MS),
            now=NOW,
            replaces_device_id=replaces,
        )
    assert await store.get_device("dev_2") is None
    assert not any(d.revoked for d in await store.list_devices())
    # The code was not spent.
    await store.enroll_device(
        code_hash="code-x",
        device_id="dev_2",
        platform="ios",
        app_version="",
        refresh=RefreshGrant(token_hash="rt-x", expires_at=NOW + DAY_MS),
        now=NOW,
    )


async def test_aggregates_are_unique_per_lineage_and_day(store: Store) -> None:
    await enrolled(store)
    await sharing(store)
    await enrolled(store, device_id="dev_sibling", refresh_hash="rt-s")
    await sync(store, "dev_1", [item(aggregate(1, "2024-01-01")), item(aggregate(2, "2024-01-02"))])
    await enrolled(store, device_id="dev_2", refresh_hash="rt-b", replaces="dev_1")
    outcome = await sync(store, "dev_2", [item(aggregate(1, "2024-01-02")), item(aggregate(2, "2024-01-03"))])
    assert outcome.last_seq == 2
    assert [(r.status, r.code) for r in outcome.results] == [("rejected", "duplicate_day"), ("applied", None)]
    # Another device of the same user is another lineage: its day is its own.
    sibling = await sync(store, "dev_sibling", [item(aggregate(1, "2024-01-02"))])
    assert sibling.results[0].status == "applied"
    view = await store.user_view("usr_1")
    assert sorted((a.lineage_id, a.device_id, a.day) for a in view.aggregates) == [
        ("dev_1", "dev_1", "2024-01-01"),
        ("dev_1", "dev_1", "2024-01-02"),
        ("dev_1", "dev_2", "2024-01-03"),
        ("dev_sibling", "dev_sibling", "2024-01-02"),
    ]


# --- refresh rotation ---------------------------------------------------------------------


async def rotate(
    store: Store, presented: str, successor: str, now: int = NOW, grace_ms: int = 60_000
) -> RotationOutcome:
    return await store.rotate_refresh(
        device_id="dev_1",
        presented_hash=presented,
        successor=RefreshGrant(token_hash=successor, expires_at=now + 90 * DAY_MS),
        cached_successor=f"pair-{successor}".encode(),
        grace_ms=grace_ms,
        now=now,
    )


async def test_rotation_replay_and_reuse(store: Store) -> None:
    await enrolled(store)
    assert (await rotate(store, "rt0", "rt1")).kind is RotationKind.ROTATED
    # The service derives the same successor for the same presented token.
    replay = await rotate(store, "rt0", "rt1", NOW + 30_000)
    assert replay == RotationOutcome(kind=RotationKind.REPLAYED, cached_successor=b"pair-rt1")
    assert (await rotate(store, "rt1", "rt2", NOW + 40_000)).kind is RotationKind.ROTATED
    # rt0's successor has been used: rt0 coming back is a reuse, and revokes everything, rt2 included.
    assert (await rotate(store, "rt0", "rt1", NOW + 41_000)).kind is RotationKind.REUSED
    assert (await rotate(store, "rt2", "rt3", NOW + 42_000)).kind is RotationKind.INVALID


async def test_replay_after_grace_with_unused_successor_reissues_access(store: Store) -> None:
    # A lost refresh reply, then a month offline: the device still holds only rt0.
    await enrolled(store)
    await rotate(store, "rt0", "rt1")
    late = NOW + 30 * DAY_MS
    replay = await rotate(store, "rt0", "rt1", late)
    assert replay == RotationOutcome(
        kind=RotationKind.REPLAYED, cached_successor=b"pair-rt1", reissue_access=True
    )
    # Replaying spent nothing: the successor is live and rotates normally.
    assert (await rotate(store, "rt1", "rt2", late + 1)).kind is RotationKind.ROTATED
    device = await store.get_device("dev_1")
    assert device is not None and not device.revoked


@pytest.mark.parametrize("age_ms", [10_000, DAY_MS], ids=["within-grace", "after-grace"])
async def test_spent_token_whose_successor_was_used_is_reuse(store: Store, age_ms: int) -> None:
    await enrolled(store)
    await rotate(store, "rt0", "rt1")
    assert (await rotate(store, "rt1", "rt2", NOW + 1_000)).kind is RotationKind.ROTATED
    # rt0's successor rt1 has been used (spent): rt0 coming back is a reuse at any age.
    assert (await rotate(store, "rt0", "rt1", NOW + age_ms)).kind is RotationKind.REUSED
    # Every token of the device is revoked: the live one and the most recently spent one too.
    assert (await rotate(store, "rt2", "rt3", NOW + age_ms)).kind is RotationKind.INVALID
    assert (await rotate(store, "rt1", "rt2", NOW + age_ms)).kind is RotationKind.REUSED


async def test_replay_with_expired_successor_is_invalid_and_revokes_nothing(store: Store) -> None:
    await enrolled(store)
    await rotate(store, "rt0", "rt1")  # rt1 expires at NOW + 90 days
    assert (await rotate(store, "rt0", "rt1", NOW + 91 * DAY_MS)).kind is RotationKind.INVALID
    device = await store.get_device("dev_1")
    assert device is not None and not device.revoked
    # Still the replay it was before expiry (nothing was revoked or spent by the refusal).
    assert (await rotate(store, "rt0", "rt1", NOW + DAY_MS)).kind is RotationKind.REPLAYED


async def test_replay_with_another_derived_successor_rekeys_the_unused_one(store: Store) -> None:
    # The derivation key changed between the rotation and the replay.
    await enrolled(store)
    await rotate(store, "rt0", "rt1")
    replay = await rotate(store, "rt0", "rt1-new", NOW + 5_000)
    assert replay.kind is RotationKind.REPLAYED and replay.cached_successor == b"pair-rt1"
    assert (await rotate(store, "rt1", "rt2", NOW + 6_000)).kind is RotationKind.INVALID
    assert (await rotate(store, "rt1-new", "rt2", NOW + 7_000)).kind is RotationKind.ROTATED
    # The chain continues from the re-keyed token: rt0 is now two rotations old.
    assert (await rotate(store, "rt0", "rt1-new", NOW + 8_000)).kind is RotationKind.REUSED


async def test_rotation_rejections(store: Store) -> None:
    await enrolled(store)
    assert (await rotate(store, "unknown", "rt1")).kind is RotationKind.INVALID
    assert (await rotate(store, "rt0", "rt1", NOW + 91 * DAY_MS)).kind is RotationKind.INVALID
    await store.revoke_device("dev_1", NOW)
    assert (await rotate(store, "rt0", "rt1")).kind is RotationKind.DEVICE_REVOKED


async def test_revoke_unknown_device(store: Store) -> None:
    with pytest.raises(DeviceNotFound):
        await store.revoke_device("dev_missing", NOW)


# --- sync ------------------------------------------------------------------------------------


async def test_exactly_once_rule(store: Store) -> None:
    await enrolled(store)
    await sharing(store)
    first = await sync(store, "dev_1", [item(aggregate(1, "2024-01-01")), item(aggregate(2, "2024-01-02"))])
    assert first.last_seq == 2 and [r.status for r in first.results] == ["applied", "applied"]
    second = await sync(store, "dev_1", [item(aggregate(2, "2024-01-02")), item(aggregate(4, "2024-01-04"))])
    assert second.last_seq == 2 and second.expected_seq == 3
    assert [(r.status, r.replay) for r in second.results] == [("applied", True)]
    view = await store.user_view("usr_1")
    assert [a.seq for a in view.aggregates] == [1, 2]
    device = await store.get_device("dev_1")
    assert device is not None and device.skew_ms == 5 and device.last_seen_at == NOW + 1


async def state(store: Store, device_id: str = "dev_1", user_id: str = "usr_1") -> tuple[object, ...]:
    """Everything a sync could change, for "nothing changed" checks."""
    return (await store.get_device(device_id), await store.user_view(user_id))


async def test_same_content_resent_gets_its_original_result_as_a_replay(store: Store) -> None:
    await enrolled(store)
    await sharing(store)
    batch = [
        item(aggregate(1, "2024-01-01")),
        invalid_item(2),
        item(SetConsent(seq=3, created_at=NOW, scope=ConsentScope.PUSH, granted=True)),
    ]
    await sync(store, "dev_1", batch)
    before = (await store.user_view("usr_1")).user.version
    again = await sync(store, "dev_1", batch)
    assert [(r.seq, r.status, r.code, r.detail, r.replay) for r in again.results] == [
        (1, "applied", None, None, True),
        (2, "rejected", "invalid_mutation", "bad", True),
        (3, "applied", None, None, True),
    ]
    assert again.last_seq == 3
    assert (await store.user_view("usr_1")).user.version == before


async def test_other_content_at_a_processed_seq_is_a_conflict_and_changes_nothing(store: Store) -> None:
    await enrolled(store)
    await sharing(store)
    await sync(store, "dev_1", [item(aggregate(1, "2024-01-01")), item(aggregate(2, "2024-01-02"))])
    before = await state(store)
    # A store restored from a backup holding only seq 1 allocates seq 2 again for new data. The
    # new mutations ahead of it in the batch are processed first, then rolled back with the rest.
    restored = [
        item(aggregate(3, "2024-01-03")),
        item(SetConsent(seq=4, created_at=NOW, scope=ConsentScope.PUSH, granted=True)),
        item(aggregate(2, "2024-01-09")),
    ]
    with pytest.raises(SeqConflict, match="seq 2"):
        await store.sync(
            device_id="dev_1", items=restored, skew_ms=999, after_version=0, pull_limit=100, now=NOW + 50
        )
    assert await state(store) == before
    # Nothing of the refused request was kept, its digests included: seq 3 is still new.
    outcome = await sync(store, "dev_1", [item(aggregate(3, "2024-01-04"))])
    assert [(r.seq, r.status) for r in outcome.results] == [(3, "applied")]


@pytest.mark.parametrize(
    ("processed", "pushed"),
    [
        (item(aggregate(1, "2024-01-01")), invalid_item(1)),
        (invalid_item(1), item(aggregate(1, "2024-01-01"))),
        (invalid_item(1, b'{"seq": 1, "type": "A"}'), invalid_item(1, b'{"seq": 1, "type": "B"}')),
        (
            item(SetConsent(seq=1, created_at=NOW, scope=ConsentScope.PUSH, granted=True)),
            item(SetConsent(seq=1, created_at=NOW, scope=ConsentScope.PUSH, granted=False)),
        ),
    ],
    ids=["valid-then-invalid", "invalid-then-valid", "two-invalid", "one-field-differs"],
)
async def test_any_content_difference_is_a_conflict(
    store: Store, processed: PushItem, pushed: PushItem
) -> None:
    await enrolled(store)
    await sync(store, "dev_1", [processed])
    before = await state(store)
    with pytest.raises(SeqConflict):
        await sync(store, "dev_1", [pushed])
    assert await state(store) == before


async def test_conflict_within_one_batch(store: Store) -> None:
    await enrolled(store)
    with pytest.raises(SeqConflict):
        await sync(store, "dev_1", [item(aggregate(1, "2024-01-01")), item(aggregate(1, "2024-01-02"))])
    device = await store.get_device("dev_1")
    assert device is not None and device.last_seq == 0
    assert (await store.user_view("usr_1")).aggregates == []


async def test_withdrawn_at_a_processed_seq_is_a_duplicate(store: Store) -> None:
    # The device took back a mutation whose earlier push was processed but whose reply was lost.
    await enrolled(store)
    await sharing(store)
    await sync(store, "dev_1", [item(aggregate(1, "2024-01-01"))])
    outcome = await sync(store, "dev_1", [item(Withdrawn(seq=1, created_at=NOW + 5))])
    assert [(r.seq, r.status) for r in outcome.results] == [(1, "duplicate")]
    assert len((await store.user_view("usr_1")).aggregates) == 1


async def test_digests_are_per_device(store: Store) -> None:
    await enrolled(store)
    await sharing(store)
    await enrolled(store, device_id="dev_2", refresh_hash="rt-b")
    await sync(store, "dev_1", [item(aggregate(1, "2024-01-01"))])
    outcome = await sync(store, "dev_2", [item(aggregate(1, "2024-01-02"))])
    assert outcome.results[0].status == "applied"


async def test_invalid_and_refused_mutations_advance_last_seq(store: Store) -> None:
    await enrolled(store)
    await sharing(store)
    outcome = await sync(
        store,
        "dev_1",
        [
            invalid_item(1),
            item(aggregate(2, "2024-01-01")),
            item(aggregate(3, "2024-01-01")),
            item(AckNotice(seq=4, created_at=NOW, notice_id="ntc_missing")),
            item(AcceptOffer(seq=5, created_at=NOW, offer_id="off")),
            item(Withdrawn(seq=6, created_at=NOW)),
            item(RegisterPushToken(seq=7, created_at=NOW, token="t", platform=Platform.IOS)),
        ],
    )
    assert outcome.last_seq == 7
    assert [(r.status, r.code) for r in outcome.results] == [
        ("rejected", "invalid_mutation"),
        ("applied", None),
        ("rejected", "duplicate_day"),
        ("rejected", "unknown_notice"),
        ("rejected", "unknown_offer"),
        ("applied", None),
        ("applied", None),
    ]
    assert outcome.results[0].detail == "bad"


async def test_consent_appends_full_state_for_other_devices(store: Store) -> None:
    await enrolled(store)
    await enrolled(store, device_id="dev_2", refresh_hash="rt-b")
    await sync(
        store, "dev_1", [item(SetConsent(seq=1, created_at=NOW, scope=ConsentScope.PUSH, granted=True))]
    )
    grant = SetConsent(seq=1, created_at=NOW, scope=ConsentScope.INFERENCE, granted=False)
    outcome = await sync(store, "dev_2", [item(grant)])
    changes = [decode_change(c.body) for c in outcome.changes]
    assert [c.version for c in changes if c is not None] == [1, 2]
    last = changes[-1]
    assert isinstance(last, ConsentState)
    # Every scope with an explicit value: one never set is not granted.
    assert last.scopes == {
        ConsentScope.INFERENCE: False,
        ConsentScope.SHARE_AGGREGATES: False,
        ConsentScope.PUSH: True,
    }
    view = await store.user_view("usr_1")
    assert view.user.version == 2
    assert view.consent == {"inference": False, "push": True, "share_aggregates": False}


async def test_no_consent_set_yet_is_an_empty_map(store: Store) -> None:
    await enrolled(store)
    assert (await store.user_view("usr_1")).consent == {}


async def test_aggregates_need_a_recorded_grant(store: Store) -> None:
    await enrolled(store)
    before = await state(store)
    outcome = await sync(store, "dev_1", [item(aggregate(1, "2024-01-01"))])
    assert [(r.status, r.code, r.detail) for r in outcome.results] == [
        ("rejected", "consent_missing", "share_aggregates was never granted")
    ]
    assert outcome.last_seq == 1
    assert (await store.user_view("usr_1")).aggregates == before[1].aggregates == []  # type: ignore[union-attr]
    # Granted in the same request, before the aggregate: stored.
    grant = SetConsent(seq=2, created_at=NOW, scope=ConsentScope.SHARE_AGGREGATES, granted=True)
    outcome = await sync(store, "dev_1", [item(grant), item(aggregate(3, "2024-01-02"))])
    assert [(r.status, r.code) for r in outcome.results] == [("applied", None), ("applied", None)]
    assert [a.day for a in (await store.user_view("usr_1")).aggregates] == ["2024-01-02"]


async def test_consent_changes_inside_one_push_count_for_the_aggregates_after_them(store: Store) -> None:
    # The push reads the consent once and again after each change it applies.
    await enrolled(store)
    grant = SetConsent(seq=2, created_at=NOW, scope=ConsentScope.SHARE_AGGREGATES, granted=True)
    revoke = SetConsent(seq=4, created_at=NOW + 1, scope=ConsentScope.SHARE_AGGREGATES, granted=False)
    push = [aggregate(1, "2024-01-01"), grant, aggregate(3, "2024-01-02"), revoke, aggregate(5, "2024-01-03")]
    outcome = await sync(store, "dev_1", [item(m) for m in push])
    assert [(r.seq, r.status, r.code) for r in outcome.results] == [
        (1, "rejected", "consent_missing"),
        (2, "applied", None),
        (3, "applied", None),
        (4, "applied", None),
        (5, "rejected", "consent_missing"),
    ]
    # The revocation erased the aggregate stored before it in the same push.
    assert (await store.user_view("usr_1")).aggregates == []


async def test_a_seq_pushed_twice_in_one_push_replays_its_first_result(store: Store) -> None:
    await enrolled(store)
    first = aggregate(1, "2024-01-01")
    outcome = await sync(store, "dev_1", [item(first), item(aggregate(2, "2024-01-02")), item(first)])
    assert [(r.seq, r.status, r.code, r.replay) for r in outcome.results] == [
        (1, "rejected", "consent_missing", False),
        (2, "rejected", "consent_missing", False),
        (1, "rejected", "consent_missing", True),
    ]
    assert [(p.seq, p.status) for p in await store.processed_mutations("dev_1")] == [
        (1, "rejected"),
        (2, "rejected"),
    ]


async def consent_from(store: Store, device_id: str, seq: int, granted: bool, created_at: int) -> SyncOutcome:
    change = SetConsent(seq=seq, created_at=created_at, scope=ConsentScope.SHARE_AGGREGATES, granted=granted)
    return await sync(store, device_id, [item(change)])


async def test_consent_from_several_devices_is_ordered_by_when_it_was_made(store: Store) -> None:
    await enrolled(store)
    await enrolled(store, device_id="dev_2", refresh_hash="rt-b")
    await sharing(store)
    await sync(store, "dev_1", [item(aggregate(1, "2024-01-01"))])
    # dev_2 revoked sharing at NOW + 10 (its clock, skew 5: NOW + 5 on the server's)...
    await consent_from(store, "dev_2", 1, False, NOW + 10)
    assert (await store.user_view("usr_1")).aggregates == []
    version = (await store.user_view("usr_1")).user.version
    # ... while dev_1, offline, had granted it earlier (NOW + 2): a no-op when it arrives later.
    stale = await consent_from(store, "dev_1", 2, True, NOW + 2)
    assert [(r.status, r.detail) for r in stale.results] == [("applied", SUPERSEDED)]
    view = await store.user_view("usr_1")
    assert view.consent["share_aggregates"] is False
    # The reply carries the consent that stands, so dev_1 corrects its mirror.
    assert view.user.version == version + 1
    last = decode_change(stale.changes[-1].body)
    assert isinstance(last, ConsentState) and last.scopes[ConsentScope.SHARE_AGGREGATES] is False
    refused = await sync(store, "dev_1", [item(aggregate(3, "2024-01-02"))])
    assert [r.code for r in refused.results] == ["consent_missing"]
    # A change made later than the recorded one wins.
    await consent_from(store, "dev_1", 4, True, NOW + 20)
    assert (await store.user_view("usr_1")).consent["share_aggregates"] is True


async def test_a_stale_revoke_erases_nothing(store: Store) -> None:
    await enrolled(store)
    await enrolled(store, device_id="dev_2", refresh_hash="rt-b")
    await consent_from(store, "dev_1", 1, True, NOW + 10)
    await sync(store, "dev_1", [item(aggregate(2, "2024-01-01"))])
    stale = await consent_from(store, "dev_2", 1, False, NOW)
    assert [r.detail for r in stale.results] == [SUPERSEDED]
    view = await store.user_view("usr_1")
    assert view.consent["share_aggregates"] is True and [a.day for a in view.aggregates] == ["2024-01-01"]


async def test_notices_page_and_ack(store: Store) -> None:
    await enrolled(store)
    versions = [
        await store.append_notice(user_id="usr_1", notice_id=f"n{i}", kind="k", title="t", body="b", now=NOW)
        for i in range(5)
    ]
    assert versions == [1, 2, 3, 4, 5]
    page = await sync(store, "dev_1", [], after=1, limit=2)
    assert [c.version for c in page.changes] == [2, 3, 4]  # limit + 1: the extra row says "more"
    notice = decode_change(page.changes[0].body)
    assert isinstance(notice, Notice) and notice.notice_id == "n1"
    acked = await sync(store, "dev_1", [item(AckNotice(seq=1, created_at=NOW, notice_id="n1"))], after=5)
    assert acked.results[0].status == "applied"
    # The acknowledgement is a change of its own, pulled in the same transaction.
    [change] = [decode_change(c.body) for c in acked.changes]
    assert isinstance(change, Notice) and change.version == 6
    assert msgspec.structs.replace(change, version=notice.version, acked=False) == notice
    assert change.acked is True
    view = await store.user_view("usr_1")
    assert view.user.version == 6
    assert [(n.notice_id, n.version, n.acked_at is not None) for n in view.notices] == [
        ("n0", 1, False),
        ("n2", 3, False),
        ("n3", 4, False),
        ("n4", 5, False),
        ("n1", 6, True),
    ]


async def test_acking_an_acked_notice_appends_nothing(store: Store) -> None:
    await enrolled(store)
    await enrolled(store, device_id="dev_2", refresh_hash="rt-b")
    await store.append_notice(user_id="usr_1", notice_id="n", kind="k", title="t", body="b", now=NOW)
    first = await sync(store, "dev_1", [item(AckNotice(seq=1, created_at=NOW, notice_id="n"))], after=1)
    assert [c.version for c in first.changes] == [2]
    again = await sync(
        store,
        "dev_2",
        [
            item(AckNotice(seq=1, created_at=NOW, notice_id="n")),
            item(AckNotice(seq=2, created_at=NOW, notice_id="n")),
        ],
        after=2,
    )
    assert [r.status for r in again.results] == ["applied", "applied"] and again.changes == []
    view = await store.user_view("usr_1")
    assert view.user.version == 2 and [n.version for n in view.notices] == [2]


async def test_notice_for_unknown_user(store: Store) -> None:
    with pytest.raises(UserNotFound):
        await store.append_notice(user_id="usr_missing", notice_id="n", kind="k", title="t", body="", now=NOW)
    with pytest.raises(UserNotFound):
        await store.user_view("usr_missing")


async def test_failed_sync_changes_nothing(store: Store) -> None:
    await enrolled(store)
    with pytest.raises(CursorAhead):
        await sync(store, "dev_1", [item(aggregate(1))], after=7)
    with pytest.raises(DeviceNotFound):
        await sync(store, "dev_missing", [item(aggregate(1))])
    await store.revoke_device("dev_1", NOW)
    with pytest.raises(DeviceRevoked):
        await sync(store, "dev_1", [item(aggregate(1))])
    device = await store.get_device("dev_1")
    assert device is not None and device.last_seq == 0 and device.skew_ms == 0
    assert (await store.user_view("usr_1")).aggregates == []


async def test_concurrent_replays_store_each_mutation_once(store: Store) -> None:
    await enrolled(store)
    await sharing(store)
    batch = [item(aggregate(i + 1, f"2024-01-{i + 1:02d}")) for i in range(10)]
    outcomes = await asyncio.gather(*(sync(store, "dev_1", batch) for _ in range(20)))
    # Each mutation was processed once; the other answers replay that result.
    applied = sum(1 for o in outcomes for r in o.results if r.status == "applied" and not r.replay)
    assert applied == 10
    assert all(r.status == "applied" for o in outcomes for r in o.results)
    assert all(o.last_seq == 10 for o in outcomes)
    assert [a.seq for a in (await store.user_view("usr_1")).aggregates] == list(range(1, 11))


async def test_aggregate_is_stored_as_received(store: Store) -> None:
    await enrolled(store)
    await sharing(store)
    sent = aggregate(1, "2024-05-06")
    await sync(store, "dev_1", [item(sent)])
    [stored] = (await store.user_view("usr_1")).aggregates
    assert stored.levels == msgspec.to_builtins(sent.levels)
    assert stored.mechanism == msgspec.to_builtins(sent.mechanism)
    assert (stored.day, stored.tz_offset_min, stored.window_bucket, stored.model_version) == (
        "2024-05-06",
        0,
        2,
        "m1",
    )


# --- analytics reads ----------------------------------------------------------------------


async def test_aggregates_by_user_and_day_range(store: Store) -> None:
    await enrolled(store)
    await sharing(store)
    await enrolled(store, user_id="usr_2", device_id="dev_2", refresh_hash="rt-2")
    await sharing(store, "usr_2")
    days = ["2024-01-30", "2024-02-01", "2024-02-03", "2024-02-10"]
    await sync(store, "dev_1", [item(aggregate(i + 1, day)) for i, day in enumerate(days)])
    await sync(store, "dev_2", [item(aggregate(1, "2024-02-01"))])
    mine = await store.user_aggregates("usr_1", "2024-02-01", "2024-02-03")
    assert [(a.device_id, a.day) for a in mine] == [("dev_1", "2024-02-01"), ("dev_1", "2024-02-03")]
    assert mine == [a for a in (await store.user_aggregates("usr_1", "2000-01-01", "2999-12-31"))[1:3]]
    assert mine[0].mechanism == msgspec.to_builtins(aggregate(1).mechanism)
    assert await store.user_aggregates("usr_missing", "2024-01-01", "2024-12-31") == []
    assert await store.user_aggregates("usr_1", "2024-02-04", "2024-02-09") == []
    everyone = await store.aggregate_groups("2024-02-01", "2024-02-10")
    levels, mechanism = mine[0].levels, mine[0].mechanism
    assert everyone == [AggregateGroupRecord(levels=levels, mechanism=mechanism, count=4, model_version="m1")]
    other = msgspec.structs.replace(aggregate(6, "2024-02-05"), levels=Levels(stress=3, valence=1, arousal=2))
    await sync(store, "dev_1", [item(aggregate(5, "2024-01-31")), item(other)])
    groups = await store.aggregate_groups("2024-01-31", "2024-02-05")
    assert sorted((g.levels["stress"], g.count) for g in groups) == [(0, 4), (3, 1)]
    assert await store.aggregate_groups("2024-02-02", "2024-02-01") == []


async def test_aggregate_counts_follow_every_store_and_erase(store: Store) -> None:
    """The analytics read counts kept with the aggregates: a duplicate day adds nothing, and a
    revocation of ``share_aggregates`` takes the user's aggregates off them."""
    for user, device in (("usr_1", "dev_1"), ("usr_2", "dev_2")):
        await enrolled(store, user_id=user, device_id=device, refresh_hash=f"rt-{device}")
        await sharing(store, user)
    calm = aggregate(1, "2024-03-01")
    tense = msgspec.structs.replace(aggregate(2, "2024-03-02"), levels=Levels(stress=3, valence=1, arousal=2))
    await sync(store, "dev_1", [item(calm), item(tense)])
    await sync(store, "dev_2", [item(aggregate(1, "2024-03-01")), item(aggregate(2, "2024-03-01"))])

    async def counts() -> list[tuple[int, int]]:
        groups = await store.aggregate_groups("2024-03-01", "2024-03-31")
        return sorted((g.levels["stress"], g.count) for g in groups)

    assert await counts() == [(0, 2), (3, 1)]  # dev_2's second 2024-03-01 is a duplicate day
    revoke = SetConsent(seq=3, created_at=NOW + 10, scope=ConsentScope.SHARE_AGGREGATES, granted=False)
    [result] = (await sync(store, "dev_1", [item(revoke)])).results
    assert result.status == "applied"
    assert await counts() == [(0, 1)]
    assert await store.user_aggregates("usr_1", "2024-01-01", "2024-12-31") == []
    assert len(await store.user_aggregates("usr_2", "2024-01-01", "2024-12-31")) == 1
    # Aggregates and a revocation in one push: the revocation erases them from the counts too.
    await enrolled(store, user_id="usr_3", device_id="dev_3", refresh_hash="rt-dev_3")
    await sharing(store, "usr_3")
    late = SetConsent(seq=3, created_at=NOW + 20, scope=ConsentScope.SHARE_AGGREGATES, granted=False)
    outcome = await sync(store, "dev_3", [item(aggregate(1, "2024-03-01")), item(tense), item(late)])
    assert [r.status for r in outcome.results] == ["applied"] * 3
    assert await counts() == [(0, 1)]


async def test_aggregate_counts_are_kept_per_model_version(store: Store) -> None:
    """Two models' reports are counted apart (the analytics never pool them); a revocation takes
    each off its own count."""
    await enrolled(store)
    await sharing(store)
    newer = msgspec.structs.replace(aggregate(2, "2024-03-02"), model_version="m2")
    await sync(store, "dev_1", [item(aggregate(1, "2024-03-01")), item(newer)])
    groups = await store.aggregate_groups("2024-03-01", "2024-03-31")
    assert sorted((g.model_version, g.count) for g in groups) == [("m1", 1), ("m2", 1)]
    revoke = SetConsent(seq=3, created_at=NOW + 10, scope=ConsentScope.SHARE_AGGREGATES, granted=False)
    await sync(store, "dev_1", [item(revoke)])
    assert await store.aggregate_groups("2024-03-01", "2024-03-31") == []


# --- credit profiles and offers -----------------------------------------------------------

OFFER_EXPIRES = NOW + 14 * DAY_MS


def profile_record(user_id: str = "usr_1", limit: int = 100_000, at: int = NOW) -> ProfileRecord:
    return ProfileRecord(
        user_id=user_id, currency="EUR", limit_cents=limit, used_cents=2_500, rate_bps=1_990, updated_at=at
    )


def terms(offer_id: str = "off_1", user_id: str = "usr_1", expires_at: int = OFFER_EXPIRES) -> OfferTerms:
    return OfferTerms(
        offer_id=offer_id,
        user_id=user_id,
        new_limit_cents=150_000,
        rate_bps=1_790,
        term_months=12,
        expires_at=expires_at,
        reason_codes=["RISK_BAND_B"],
        policy_version="p1",
    )


async def with_offer(store: Store, offer_id: str = "off_1", expires_at: int = OFFER_EXPIRES) -> str:
    """An enrolled dev_1 of usr_1 with a profile and one offer; returns the offer id."""
    if await store.get_device("dev_1") is None:
        await enrolled(store)
        await store.set_profile(profile_record(), actor="admin", reason_code="profile_set")
    await store.create_offer(terms(offer_id, expires_at=expires_at), actor="admin", now=NOW)
    return offer_id


async def changes_of(store: Store, after: int = 0) -> list[object]:
    outcome = await sync(store, "dev_1", [], after=after)
    return [decode_change(c.body, MediaType.MSGPACK) for c in outcome.changes]


async def test_profile_upsert_audits_and_appends_profile_update(store: Store) -> None:
    await enrolled(store)
    v1 = await store.set_profile(profile_record(), actor="admin", reason_code="profile_set", ref="req1")
    v2 = await store.set_profile(
        profile_record(limit=200_000, at=NOW + 5), actor="admin", reason_code="profile_set"
    )
    assert (v1, v2) == (1, 2)
    got = await store.get_profile("usr_1")
    assert got == profile_record(limit=200_000, at=NOW + 5)
    updates = await changes_of(store)
    assert [type(c) for c in updates] == [ProfileUpdate, ProfileUpdate]
    last = updates[1]
    assert isinstance(last, ProfileUpdate) and last.profile.limit_cents == 200_000
    trail = await store.audit_trail(user_id="usr_1")
    assert [(a.offer_id, a.reason_code, a.ref) for a in trail] == [
        (None, "profile_set", "req1"),
        (None, "profile_set", None),
    ]
    assert trail[1].detail is not None and trail[1].detail["limit_cents"] == 200_000


async def test_profile_for_unknown_user(store: Store) -> None:
    with pytest.raises(UserNotFound):
        await store.set_profile(profile_record("usr_missing"), actor="admin", reason_code="profile_set")
    assert await store.get_profile("usr_missing") is None


async def test_create_offer_appends_upsert_and_audit(store: Store) -> None:
    await with_offer(store)
    offer = await store.get_offer("off_1")
    assert offer is not None and offer.status == "offered" and offer.current_limit_cents == 100_000
    assert await store.list_offers("usr_1") == [offer]
    upsert = (await changes_of(store))[-1]
    assert isinstance(upsert, OfferUpsert) and upsert.offer.offer_id == "off_1"
    assert upsert.offer.status is OfferStatus.OFFERED and upsert.offer.new_limit_cents == 150_000
    trail = await store.audit_trail(offer_id="off_1")
    assert [(a.from_status, a.to_status, a.actor, a.reason_code) for a in trail] == [
        (None, "offered", "admin", "offer_created")
    ]


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        ({"user_id": "usr_missing"}, UserNotFound),
        ({"new_limit_cents": 100_000}, InvalidOfferTerms),
        ({"expires_at": NOW}, InvalidOfferTerms),
    ],
)
async def test_create_offer_refusals_change_nothing(
    store: Store, bad: dict[str, object], error: type[Exception]
) -> None:
    await enrolled(store)
    await store.set_profile(profile_record(), actor="admin", reason_code="profile_set")
    before = await store.user_view("usr_1")
    with pytest.raises(error):
        await store.create_offer(msgspec.structs.replace(terms(), **bad), actor="admin", now=NOW)
    assert await store.user_view("usr_1") == before
    assert [a.reason_code for a in await store.audit_trail(user_id="usr_1")] == ["profile_set"]


async def test_create_offer_needs_a_profile(store: Store) -> None:
    await enrolled(store)
    with pytest.raises(ProfileMissing):
        await store.create_offer(terms(), actor="admin", now=NOW)
    assert await store.list_offers("usr_1") == []


async def test_withdraw_offer(store: Store) -> None:
    await with_offer(store)
    withdrawn = await store.withdraw_offer("off_1", actor="admin", reason_code="withdrawn", now=NOW + 7)
    assert withdrawn.status == "withdrawn" and withdrawn.updated_at == NOW + 7
    upsert = (await changes_of(store))[-1]
    assert isinstance(upsert, OfferUpsert) and upsert.offer.status is OfferStatus.WITHDRAWN
    with pytest.raises(OfferClosed):
        await store.withdraw_offer("off_1", actor="admin", reason_code="withdrawn", now=NOW + 8)
    with pytest.raises(OfferNotFound):
        await store.withdraw_offer("off_missing", actor="admin", reason_code="withdrawn", now=NOW + 8)
    trail = await store.audit_trail(offer_id="off_1")
    assert [a.to_status for a in trail] == ["offered", "withdrawn"]


async def test_accept_offer_writes_state_audit_upsert_and_outbox(store: Store) -> None:
    await with_offer(store)
    outcome = await sync(store, "dev_1", [item(AcceptOffer(seq=1, created_at=NOW, offer_id="off_1"))])
    assert [(r.status, r.code) for r in outcome.results] == [("applied", None)]
    offer = await store.get_offer("off_1")
    assert offer is not None and offer.status == "accepted"
    last = decode_change(outcome.changes[-1].body, MediaType.MSGPACK)
    assert isinstance(last, OfferUpsert) and last.offer.status is OfferStatus.ACCEPTED
    trail = await store.audit_trail(offer_id="off_1")
    assert [(a.to_status, a.actor, a.reason_code, a.ref) for a in trail][-1] == (
        "accepted",
        "device:dev_1",
        "accepted_on_time",
        "seq:1",
    )
    outbox = await store.list_outbox()
    assert [(o.kind, o.state, o.attempts, msgspec.json.decode(o.payload)) for o in outbox] == [
        ("apply_offer", "pending", 0, {"offer_id": "off_1"})
    ]
    # A replay of the same seq gets its original result; a new seq for the accepted offer is not open.
    again = await sync(
        store,
        "dev_1",
        [
            item(AcceptOffer(seq=1, created_at=NOW, offer_id="off_1")),
            item(AcceptOffer(seq=2, created_at=NOW, offer_id="off_1")),
            item(DeclineOffer(seq=3, created_at=NOW, offer_id="off_1")),
        ],
    )
    assert [(r.status, r.code, r.replay) for r in again.results] == [
        ("applied", None, True),
        ("rejected", "offer_not_open", False),
        ("rejected", "offer_not_open", False),
    ]
    assert len(await store.list_outbox()) == 1
    assert len(await store.audit_trail(offer_id="off_1")) == 2


async def test_decline_offer(store: Store) -> None:
    await with_offer(store)
    outcome = await sync(
        store, "dev_1", [item(DeclineOffer(seq=1, created_at=NOW, offer_id="off_1", reason="not_now"))]
    )
    assert [(r.status, r.code) for r in outcome.results] == [("applied", None)]
    offer = await store.get_offer("off_1")
    assert offer is not None and offer.status == "declined"
    trail = await store.audit_trail(offer_id="off_1")
    assert (trail[-1].to_status, trail[-1].reason_code, trail[-1].detail) == (
        "declined",
        "declined",
        {"reason": "not_now"},
    )
    assert await store.list_outbox() == []


async def test_offer_refusals_change_nothing(store: Store) -> None:
    await with_offer(store, "off_gone")
    await store.withdraw_offer("off_gone", actor="admin", reason_code="withdrawn", now=NOW)
    # Another user's offer is unknown to this device.
    await enrolled(store, "usr_2", "dev_2", "rt2")
    await store.set_profile(profile_record("usr_2"), actor="admin", reason_code="profile_set")
    await store.create_offer(terms("off_other", "usr_2"), actor="admin", now=NOW)
    before = await store.user_view("usr_1")
    outcome = await sync(
        store,
        "dev_1",
        [
            item(AcceptOffer(seq=1, created_at=NOW, offer_id="off_missing")),
            item(AcceptOffer(seq=2, created_at=NOW, offer_id="off_other")),
            item(AcceptOffer(seq=3, created_at=NOW, offer_id="off_gone")),
            item(DeclineOffer(seq=4, created_at=NOW, offer_id="off_missing")),
        ],
    )
    assert [(r.status, r.code) for r in outcome.results] == [
        ("rejected", "unknown_offer"),
        ("rejected", "unknown_offer"),
        ("rejected", "offer_not_open"),
        ("rejected", "unknown_offer"),
    ]
    after = await store.user_view("usr_1")
    assert after.offers == before.offers and after.user.version == before.user.version
    assert await store.list_outbox() == []


async def test_late_acceptance_follows_the_rule(store: Store) -> None:
    await enrolled(store)
    await store.set_profile(profile_record(), actor="admin", reason_code="profile_set")
    hour = 3_600_000
    for offer_id in ("off_grace", "off_beyond"):
        await store.create_offer(terms(offer_id, expires_at=NOW + hour), actor="admin", now=NOW)

    async def accept(
        seq: int, offer_id: str, created_at: int, arrived: int, skew: int = 0
    ) -> tuple[str, str | None]:
        out = await store.sync(
            device_id="dev_1",
            items=[item(AcceptOffer(seq=seq, created_at=created_at, offer_id=offer_id))],
            skew_ms=skew,
            after_version=0,
            pull_limit=10,
            now=arrived,
        )
        return out.results[0].status, out.results[0].code

    # Accepted offline 10 min before expiry, arriving 2 h after it: within the 72 h grace.
    assert await accept(1, "off_grace", NOW + 50 * 60_000, NOW + 3 * hour) == ("applied", None)
    # Arriving beyond grace: refused, nothing changed.
    assert await accept(2, "off_beyond", NOW + 50 * 60_000, NOW + 74 * hour) == ("rejected", "offer_expired")
    beyond = await store.get_offer("off_beyond")
    assert beyond is not None and beyond.status == "offered"
    assert [o.kind for o in await store.list_outbox()] == ["apply_offer"]


# --- the outbox: apply_offer and the relay ------------------------------------------------


async def accepted(store: Store) -> int:
    """usr_1's off_1 accepted by dev_1; returns its outbox id (the sync reports the new row)."""
    await with_offer(store)
    outcome = await sync(store, "dev_1", [item(AcceptOffer(seq=1, created_at=NOW, offer_id="off_1"))])
    assert [(o.kind, o.attempts) for o in outcome.outbox] == [("apply_offer", 0)]
    return outcome.outbox[0].outbox_id


async def test_sync_reports_only_the_outbox_rows_it_added(store: Store) -> None:
    await accepted(store)
    again = await sync(store, "dev_1", [item(AcceptOffer(seq=1, created_at=NOW, offer_id="off_1"))])
    assert again.outbox == []


async def test_apply_offer_applies_once(store: Store) -> None:
    outbox_id = await accepted(store)
    before = await changes_of(store)
    assert await store.apply_offer(outbox_id, ref="job:1:0", now=NOW + 10) == "applied"
    offer = await store.get_offer("off_1")
    assert offer is not None and offer.status == "applied"
    profile = await store.get_profile("usr_1")
    assert profile is not None
    assert (profile.limit_cents, profile.rate_bps, profile.used_cents) == (150_000, 1_790, 2_500)
    new = (await changes_of(store))[len(before) :]
    assert [type(c) for c in new] == [OfferUpsert, ProfileUpdate, Notice]
    upsert, update, notice = new
    assert isinstance(upsert, OfferUpsert) and upsert.offer.status is OfferStatus.APPLIED
    assert isinstance(update, ProfileUpdate) and update.profile.limit_cents == 150_000
    assert isinstance(notice, Notice) and notice.kind == "limit_applied"
    assert "1,500.00 EUR" in notice.body
    trail = await store.audit_trail(user_id="usr_1")
    assert [(a.to_status, a.actor, a.reason_code) for a in trail][-2:] == [
        ("applied", "worker", "offer_applied"),
        (None, "worker", "offer_applied"),
    ]
    assert [(o.state, o.attempts) for o in await store.list_outbox()] == [("done", 0)]
    # A second run (a duplicate job, the relay's next attempt) changes nothing.
    version = (await store.user_view("usr_1")).user.version
    assert await store.apply_offer(outbox_id, ref="job:1:1", now=NOW + 20) == "already_done"
    assert (await store.user_view("usr_1")).user.version == version
    assert len(await store.audit_trail(user_id="usr_1")) == len(trail)


async def test_apply_offer_unknown_row_is_missing(store: Store) -> None:
    await enrolled(store)
    assert await store.apply_offer(404, ref="job:404:0", now=NOW) == "missing"
    assert await store.list_outbox() == []


async def test_relay_requeues_stale_rows_as_next_attempt(store: Store) -> None:
    outbox_id = await accepted(store)
    # Not stale yet: nothing moves.
    fresh = await store.relay_outbox(now=NOW + 1 + 999, timeout_ms=1000, max_attempts=3)
    assert (fresh.requeued, fresh.dead) == ([], [])
    first = await store.relay_outbox(now=NOW + 1 + 1000, timeout_ms=1000, max_attempts=3)
    assert [(r.outbox_id, r.attempts) for r in first.requeued] == [(outbox_id, 1)]
    # Just requeued: its clock restarted.
    assert (await store.relay_outbox(now=NOW + 1 + 1500, timeout_ms=1000, max_attempts=3)).requeued == []
    second = await store.relay_outbox(now=NOW + 1 + 2000, timeout_ms=1000, max_attempts=3)
    assert [r.attempts for r in second.requeued] == [2]
    assert [(o.state, o.attempts) for o in await store.list_outbox()] == [("pending", 2)]
    # A done row is never relayed.
    assert await store.apply_offer(outbox_id, ref="job:1:2", now=NOW + 2100) == "applied"
    done = await store.relay_outbox(now=NOW + 10_000, timeout_ms=1000, max_attempts=3)
    assert (done.requeued, done.dead) == ([], [])


async def test_relay_dead_letters_after_the_last_attempt(store: Store) -> None:
    outbox_id = await accepted(store)
    before = await changes_of(store)
    for attempt, at in ((1, 1000), (2, 2000)):
        out = await store.relay_outbox(now=NOW + 1 + at, timeout_ms=1000, max_attempts=3)
        assert [r.attempts for r in out.requeued] == [attempt]
    last = await store.relay_outbox(now=NOW + 1 + 3000, timeout_ms=1000, max_attempts=3)
    assert (last.requeued, last.dead) == ([], [outbox_id])
    assert [(o.state, o.attempts) for o in await store.list_outbox()] == [("dead", 2)]
    offer = await store.get_offer("off_1")
    assert offer is not None and offer.status == "failed"
    profile = await store.get_profile("usr_1")
    assert profile is not None and profile.limit_cents == 100_000
    trail = await store.audit_trail(offer_id="off_1")
    assert (trail[-1].from_status, trail[-1].to_status, trail[-1].actor, trail[-1].reason_code) == (
        "accepted",
        "failed",
        "worker",
        "apply_attempts_exhausted",
    )
    new = (await changes_of(store))[len(before) :]
    assert [type(c) for c in new] == [OfferUpsert, Notice]
    assert isinstance(new[0], OfferUpsert) and new[0].offer.status is OfferStatus.FAILED
    assert isinstance(new[1], Notice) and new[1].kind == "acceptance_failed"
    # Dead is final: a late job does nothing and the relay leaves the row alone.
    assert await store.apply_offer(outbox_id, ref="job:1:2", now=NOW + 5000) == "already_done"
    after = await store.relay_outbox(now=NOW + 60_000, timeout_ms=1000, max_attempts=3)
    assert (after.requeued, after.dead) == ([], [])


# --- apply is a compare-and-set on the offer's base -------------------------------------------


async def test_an_offer_records_the_base_it_was_made_on(store: Store) -> None:
    await with_offer(store)
    offer = await store.get_offer("off_1")
    assert offer is not None
    assert (offer.current_limit_cents, offer.base_rate_bps) == (100_000, 1_990)


async def two_accepted_on_one_base(store: Store) -> tuple[int, int]:
    """off_1 (to 150,000.00) and off_2 (to 120,000.00), both made on 100,000.00 at 19.90 % and
    accepted; returns their outbox ids."""
    await with_offer(store, "off_1")
    lower = msgspec.structs.replace(terms("off_2"), new_limit_cents=120_000)
    await store.create_offer(lower, actor="admin", now=NOW)
    outcome = await sync(
        store,
        "dev_1",
        [
            item(AcceptOffer(seq=1, created_at=NOW, offer_id="off_1")),
            item(AcceptOffer(seq=2, created_at=NOW, offer_id="off_2")),
        ],
    )
    first, second = (row.outbox_id for row in outcome.outbox)
    return first, second


async def test_an_offer_whose_base_changed_fails_at_once_and_never_lowers_the_limit(store: Store) -> None:
    first, second = await two_accepted_on_one_base(store)
    assert await store.apply_offer(first, ref="job:1:0", now=NOW + 10) == "applied"
    before = await changes_of(store)
    trail_before = await store.audit_trail(user_id="usr_1")
    # off_2 was made on 100,000.00; the limit is 150,000.00 now: applying it would lower it.
    assert await store.apply_offer(second, ref="job:2:0", now=NOW + 20) == "base_changed"
    profile = await store.get_profile("usr_1")
    assert profile is not None and (profile.limit_cents, profile.rate_bps) == (150_000, 1_790)
    offer = await store.get_offer("off_2")
    assert offer is not None and offer.status == "failed"
    new_events = (await store.audit_trail(user_id="usr_1"))[len(trail_before) :]
    assert [(a.offer_id, a.from_status, a.to_status, a.actor, a.reason_code, a.ref) for a in new_events] == [
        ("off_2", "accepted", "failed", "worker", "base_changed", "job:2:0")
    ]
    assert new_events[0].detail == {
        "base_limit_cents": 100_000,
        "base_rate_bps": 1_990,
        "limit_cents": 150_000,
        "rate_bps": 1_790,
    }
    new = (await changes_of(store))[len(before) :]
    assert [type(c) for c in new] == [OfferUpsert, Notice]
    assert isinstance(new[0], OfferUpsert) and new[0].offer.status is OfferStatus.FAILED
    notice = new[1]
    assert isinstance(notice, Notice)
    assert (notice.notice_id, notice.kind) == ("acceptance_failed:off_2", "acceptance_failed")
    assert "1,000.00 EUR at 19.90 %" in notice.body and "1,500.00 EUR at 17.90 %" in notice.body
    # Terminal at once: the row is done (no relay retries, nothing dead to retry).
    rows = {o.outbox_id: o for o in await store.list_outbox()}
    assert (rows[second].state, rows[second].attempts) == ("done", 0)
    relay = await store.relay_outbox(now=NOW + 60_000, timeout_ms=1000, max_attempts=3)
    assert relay.dead == [] and second not in [r.outbox_id for r in relay.requeued]
    assert await store.apply_offer(second, ref="job:2:1", now=NOW + 30) == "already_done"


async def test_a_rate_change_alone_also_fails_the_offer(store: Store) -> None:
    outbox_id = await accepted(store)
    cheaper = msgspec.structs.replace(profile_record(), rate_bps=1_490, updated_at=NOW + 5)
    await store.set_profile(cheaper, actor="admin", reason_code="profile_set")
    assert await store.apply_offer(outbox_id, ref="job:1:0", now=NOW + 10) == "base_changed"
    profile = await store.get_profile("usr_1")
    assert profile is not None and (profile.limit_cents, profile.rate_bps) == (100_000, 1_490)


async def test_a_profile_set_back_to_the_base_applies(store: Store) -> None:
    outbox_id = await accepted(store)
    await store.set_profile(
        profile_record(limit=90_000, at=NOW + 1), actor="admin", reason_code="profile_set"
    )
    await store.set_profile(profile_record(at=NOW + 2), actor="admin", reason_code="profile_set")
    assert await store.apply_offer(outbox_id, ref="job:1:0", now=NOW + 10) == "applied"


async def test_a_refusal_lost_with_its_reply_is_heard_on_the_resend(store: Store) -> None:
    """An offer is withdrawn; the phone, not yet aware, accepts it; the refusal's reply is lost. The
    resend must say the acceptance was refused, or the device never learns its money action
    failed (chaos seed 1042)."""
    await with_offer(store)
    await store.withdraw_offer("off_1", actor="admin", reason_code="withdrawn", now=NOW + 1)
    accept = [item(AcceptOffer(seq=1, created_at=NOW, offer_id="off_1"))]
    first = await sync(store, "dev_1", accept)
    assert [(r.status, r.code, r.replay) for r in first.results] == [("rejected", "offer_not_open", False)]
    before = await state(store)
    again = await sync(store, "dev_1", accept)
    assert [(r.status, r.code, r.detail, r.replay) for r in again.results] == [
        ("rejected", "offer_not_open", first.results[0].detail, True)
    ]
    assert (await store.user_view("usr_1")).user.version == before[1].user.version  # type: ignore[union-attr]


async def test_a_late_withdrawn_over_a_processed_seq_stays_a_duplicate(store: Store) -> None:
    await with_offer(store)
    await sync(store, "dev_1", [item(AcceptOffer(seq=1, created_at=NOW, offer_id="off_1"))])
    late = await sync(store, "dev_1", [item(Withdrawn(seq=1, created_at=NOW + 5))])
    assert [(r.status, r.replay) for r in late.results] == [("duplicate", False)]


async def test_the_audit_trail_is_append_only_on_every_engine(store: Store) -> None:
    """Even a statement that gets past the scripts cannot rewrite or delete an audit event."""
    await with_offer(store)
    before = await store.audit_trail(offer_id="off_1")
    assert before
    tx_store = cast(TxStore, store)
    for statement in ("UPDATE offer_audit SET actor = 'someone else'", "DELETE FROM offer_audit"):
        with pytest.raises(Exception, match="append-only"):
            await tx_store._write_tx(lambda tx, sql=statement: tx.execute(sql))
    assert await store.audit_trail(offer_id="off_1") == before
