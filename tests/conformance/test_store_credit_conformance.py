"""Credit features and evaluations: behaviour every :class:`cloud.store.Store` backend must have."""

from __future__ import annotations

import msgspec
import pytest

from cloud.domain.credit.refusals import CreditFeaturesMissing, OpenOfferExists
from cloud.domain.offers.errors import ProfileMissing
from cloud.outbox.kinds import EVALUATE_CREDIT, SEND_PUSH
from cloud.push.messages import PushPayload
from cloud.store import Store
from cloud.store.errors import UserNotFound
from cloud.store.records import (
    CompletionOutcome,
    CreditFeaturesRecord,
    EvaluationInputs,
    EvaluationState,
    OfferTerms,
    ProfileRecord,
)
from sync.messages import AcceptOffer, ConsentScope, SetConsent
from tests.conformance.test_store_conformance import DAY_MS, NOW, enrolled, item, sync

pytestmark = pytest.mark.anyio

DAY = "2023-11-14"


def features(user_id: str = "usr_1") -> CreditFeaturesRecord:
    return CreditFeaturesRecord(
        user_id=user_id,
        months_on_book=36,
        on_time_payments_12m=12,
        missed_payments_12m=0,
        income_band="high",
        updated_at=NOW,
    )


def profile(user_id: str = "usr_1", limit: int = 100_000) -> ProfileRecord:
    return ProfileRecord(
        user_id=user_id, currency="EUR", limit_cents=limit, used_cents=20_000, rate_bps=1_990, updated_at=NOW
    )


def terms(user_id: str = "usr_1", offer_id: str = "off_1") -> OfferTerms:
    return OfferTerms(
        offer_id=offer_id,
        user_id=user_id,
        new_limit_cents=150_000,
        rate_bps=1_290,
        term_months=12,
        expires_at=NOW + 14 * DAY_MS,
        reason_codes=["RISK_BAND_A", "GUARDRAIL_NO_SIGNAL"],
        policy_version="scorecard-2024.1",
    )


async def ready_user(store: Store, user_id: str = "usr_1", device_id: str = "dev_1") -> None:
    await enrolled(store, user_id, device_id, refresh_hash=f"rt-{device_id}")
    await store.set_profile(profile(user_id), actor="admin", reason_code="profile_set")
    await store.set_credit_features(features(user_id))


async def requested(store: Store, user_id: str = "usr_1", evaluation_id: str = "eval_1") -> EvaluationInputs:
    req = await store.request_evaluation(user_id, evaluation_id, trigger="admin", day=DAY, now=NOW)
    inputs = await store.evaluation_inputs(req.outbox.outbox_id)
    assert inputs is not None
    return inputs


async def complete(
    store: Store,
    inputs: EvaluationInputs,
    offer: OfferTerms | None = None,
    *,
    announcement: PushPayload | None = None,
    not_before: int | None = None,
) -> CompletionOutcome:
    assert inputs.evaluation.outbox_id is not None
    done = await store.complete_evaluation(
        inputs.evaluation.outbox_id,
        status=EvaluationState.DONE,
        result=b'{"policy_version":"scorecard-2024.1"}',
        terms=offer,
        read=inputs,
        announcement=announcement,
        announce_not_before=not_before,
        actor="worker",
        ref="job:1:0",
        now=NOW + 10,
    )
    return done.outcome


async def test_credit_features_are_set_and_replaced(store: Store) -> None:
    await enrolled(store)
    assert await store.get_credit_features("usr_1") is None
    await store.set_credit_features(features())
    assert await store.get_credit_features("usr_1") == features()
    changed = msgspec.structs.replace(features(), missed_payments_12m=2, updated_at=NOW + 1)
    await store.set_credit_features(changed)
    assert await store.get_credit_features("usr_1") == changed
    with pytest.raises(UserNotFound):
        await store.set_credit_features(features("usr_nobody"))
    assert await store.get_credit_features("usr_nobody") is None


async def test_request_writes_a_pending_evaluation_and_its_outbox_row(store: Store) -> None:
    await ready_user(store)
    req = await store.request_evaluation("usr_1", "eval_1", trigger="admin", day=DAY, now=NOW)
    assert (req.evaluation.status, req.evaluation.trigger, req.evaluation.day) == ("pending", "admin", DAY)
    assert (req.outbox.kind, req.outbox.state, req.outbox.attempts) == (EVALUATE_CREDIT, "pending", 0)
    assert msgspec.json.decode(req.outbox.payload) == {"evaluation_id": "eval_1"}
    assert req.evaluation.outbox_id == req.outbox.outbox_id
    assert await store.get_evaluation("eval_1") == req.evaluation
    inputs = await store.evaluation_inputs(req.outbox.outbox_id)
    assert inputs is not None
    assert (inputs.features, inputs.profile is not None, inputs.open_offer_id) == (features(), True, None)


async def test_refused_requests_write_nothing(store: Store) -> None:
    await enrolled(store)
    with pytest.raises(UserNotFound):
        await store.request_evaluation("usr_nobody", "e1", trigger="admin", day=DAY, now=NOW)
    with pytest.raises(ProfileMissing):
        await store.request_evaluation("usr_1", "e2", trigger="admin", day=DAY, now=NOW)
    await store.set_profile(profile(), actor="admin", reason_code="profile_set")
    with pytest.raises(CreditFeaturesMissing):
        await store.request_evaluation("usr_1", "e3", trigger="admin", day=DAY, now=NOW)
    await store.set_credit_features(features())
    await store.create_offer(terms(), actor="admin", now=NOW)
    with pytest.raises(OpenOfferExists):
        await store.request_evaluation("usr_1", "e4", trigger="admin", day=DAY, now=NOW)
    assert await store.list_evaluations() == []
    assert await store.list_outbox() == []


async def test_completion_creates_the_offer_once(store: Store) -> None:
    await ready_user(store)
    inputs = await requested(store)
    assert await complete(store, inputs, terms()) is CompletionOutcome.RECORDED
    evaluation = await store.get_evaluation("eval_1")
    assert evaluation is not None
    assert (evaluation.status, evaluation.offer_id, evaluation.outbox_state) == ("done", "off_1", "done")
    assert evaluation.result == b'{"policy_version":"scorecard-2024.1"}'
    offer = await store.get_offer("off_1")
    assert offer is not None and (offer.status, offer.current_limit_cents) == ("offered", 100_000)
    trail = await store.audit_trail(offer_id="off_1")
    assert [(a.to_status, a.actor, a.reason_code, a.ref) for a in trail] == [
        ("offered", "worker", "offer_created", "job:1:0")
    ]
    # A second run of the job finds the row done and changes nothing.
    assert await complete(store, inputs, terms(offer_id="off_2")) is CompletionOutcome.ALREADY_DONE
    assert await store.evaluation_inputs(evaluation.outbox_id or 0) is None
    assert [o.offer_id for o in await store.list_offers("usr_1")] == ["off_1"]


async def test_completion_on_stale_inputs_changes_nothing(store: Store) -> None:
    await ready_user(store)
    inputs = await requested(store)
    await store.set_profile(profile(limit=120_000), actor="admin", reason_code="profile_set")
    assert await complete(store, inputs, terms()) is CompletionOutcome.STALE
    await store.create_offer(terms(offer_id="off_admin"), actor="admin", now=NOW)
    fresh = await store.evaluation_inputs(inputs.evaluation.outbox_id or 0)
    assert fresh is not None and fresh.open_offer_id == "off_admin"
    assert await complete(store, inputs) is CompletionOutcome.STALE
    evaluation = await store.get_evaluation("eval_1")
    assert evaluation is not None and (evaluation.status, evaluation.result) == ("pending", None)
    assert [o.offer_id for o in await store.list_offers("usr_1")] == ["off_admin"]
    # Recomputed on what is there now, it records the evaluation without an offer.
    assert await complete(store, fresh) is CompletionOutcome.RECORDED


async def test_completion_after_the_credit_features_changed_is_stale(store: Store) -> None:
    await ready_user(store)
    inputs = await requested(store)
    missed = msgspec.structs.replace(
        features(), missed_payments_12m=3, on_time_payments_12m=9, updated_at=NOW + 5
    )
    await store.set_credit_features(missed)
    assert await complete(store, inputs, terms()) is CompletionOutcome.STALE
    assert await store.list_offers("usr_1") == []
    fresh = await store.evaluation_inputs(inputs.evaluation.outbox_id or 0)
    assert fresh is not None and fresh.features == missed


async def test_an_announcement_needs_push_consent(store: Store) -> None:
    await ready_user(store)
    inputs = await requested(store)
    announcement = PushPayload(
        user_id="usr_1", notice_id="offer_available:off_1", notice_kind="offer_available"
    )
    await complete(store, inputs, terms(), announcement=announcement)
    assert [r.kind for r in await store.list_outbox()] == [EVALUATE_CREDIT]


async def test_a_deferred_announcement_waits_and_a_sync_ping_goes_now(store: Store) -> None:
    await ready_user(store)
    await sync(
        store, "dev_1", [item(SetConsent(seq=1, created_at=NOW, scope=ConsentScope.PUSH, granted=True))]
    )
    inputs = await requested(store)
    announcement = PushPayload(
        user_id="usr_1", notice_id="offer_available:off_1", notice_kind="offer_available"
    )
    later = NOW + DAY_MS
    assert inputs.evaluation.outbox_id is not None
    done = await store.complete_evaluation(
        inputs.evaluation.outbox_id,
        status=EvaluationState.DONE,
        result=b"{}",
        terms=terms(),
        read=inputs,
        announcement=announcement,
        announce_not_before=later,
        actor="worker",
        ref="job:1:0",
        now=NOW + 10,
    )
    pushes = [r for r in await store.list_outbox() if r.kind == SEND_PUSH]
    assert len(pushes) == 2
    announce, ping = pushes
    assert msgspec.json.decode(announce.payload, type=PushPayload) == announcement
    assert msgspec.json.decode(ping.payload, type=PushPayload) == PushPayload(user_id="usr_1")
    # Only the ping is due now; the announcement's plan carries its time.
    assert [r.outbox_id for r in done.enqueue] == [ping.outbox_id]
    plan = await store.push_plan(announce.outbox_id)
    assert plan is not None and plan.not_before == later
    # The relay leaves it until then, however stale it looks.
    early = await store.relay_outbox(now=later - 1, timeout_ms=0, max_attempts=5)
    assert announce.outbox_id not in [r.outbox_id for r in early.requeued]
    due = await store.relay_outbox(now=later, timeout_ms=0, max_attempts=5)
    assert announce.outbox_id in [r.outbox_id for r in due.requeued]


async def test_transactional_notice_is_never_deferred_after_a_deferral(store: Store) -> None:
    await ready_user(store)
    await sync(
        store, "dev_1", [item(SetConsent(seq=1, created_at=NOW, scope=ConsentScope.PUSH, granted=True))]
    )
    inputs = await requested(store)
    announcement = PushPayload(
        user_id="usr_1", notice_id="offer_available:off_1", notice_kind="offer_available"
    )
    assert inputs.evaluation.outbox_id is not None
    await store.complete_evaluation(
        inputs.evaluation.outbox_id,
        status=EvaluationState.DONE,
        result=b"{}",
        terms=terms(),
        read=inputs,
        announcement=announcement,
        announce_not_before=NOW + 2 * DAY_MS,
        actor="worker",
        ref="job:1:0",
        now=NOW + 10,
    )
    # The user accepts at once, while the announcement is still deferred.
    accepted = await sync(store, "dev_1", [item(AcceptOffer(seq=2, created_at=NOW, offer_id="off_1"))])
    [apply_row] = accepted.outbox
    await store.apply_offer(apply_row.outbox_id, ref="job:x:0", now=NOW + 20)
    [limit_push] = await store.outbox_children(apply_row.outbox_id)
    payload = msgspec.json.decode(limit_push.payload, type=PushPayload)
    assert payload.notice_kind == "limit_applied"
    plan = await store.push_plan(limit_push.outbox_id)
    assert plan is not None and plan.not_before is None


async def test_daily_requests_cover_active_users_once_per_day(store: Store) -> None:
    for n in range(1, 5):
        await ready_user(store, f"usr_{n}", f"dev_{n}")
    await enrolled(
        store, "usr_nofeatures", "dev_nf", refresh_hash="rt-nf"
    )  # no profile, no features: not active
    await store.revoke_device("dev_2", NOW)  # no device left: not active
    await store.create_offer(terms("usr_3", "off_3"), actor="admin", now=NOW)  # offer in flight
    await store.request_evaluation("usr_4", "eval_recent", trigger="admin", day=DAY, now=NOW - 3_600_000)

    def ids() -> str:
        ids.n += 1  # type: ignore[attr-defined]
        return f"eval_d{ids.n}"  # type: ignore[attr-defined]

    ids.n = 0  # type: ignore[attr-defined]
    batch = await store.request_daily_evaluations(day=DAY, now=NOW, recent_ms=DAY_MS, limit=1, new_id=ids)
    assert [r.evaluation.user_id for r in batch] == ["usr_1"]
    assert (
        await store.request_daily_evaluations(day=DAY, now=NOW, recent_ms=DAY_MS, limit=1, new_id=ids) == []
    )
    # Next day: usr_1 again (its offer-less evaluation is a day old), usr_4 (its request too).
    next_day = await store.request_daily_evaluations(
        day="2023-11-15", now=NOW + DAY_MS, recent_ms=DAY_MS, limit=10, new_id=ids
    )
    assert sorted(r.evaluation.user_id for r in next_day) == ["usr_1", "usr_4"]
    assert {r.evaluation.trigger for r in next_day} == {"daily"}
    # The same day again, even an hour later (a second cron tick): nothing more.
    again = await store.request_daily_evaluations(
        day="2023-11-15", now=NOW + DAY_MS + 3_600_000, recent_ms=0, limit=10, new_id=ids
    )
    assert again == []


async def test_an_offer_created_with_a_ping_queues_it_only_with_push_consent(store: Store) -> None:
    await ready_user(store)
    created = await store.create_offer_and_ping(terms(), actor="admin", now=NOW)
    assert (created.offer.offer_id, created.outbox) == ("off_1", [])
    assert await store.list_outbox() == []
    await store.withdraw_offer("off_1", actor="admin", reason_code="test", now=NOW + 1)
    await sync(
        store, "dev_1", [item(SetConsent(seq=1, created_at=NOW, scope=ConsentScope.PUSH, granted=True))]
    )
    created = await store.create_offer_and_ping(terms(offer_id="off_2"), actor="admin", now=NOW + 2)
    [ping] = created.outbox
    assert (ping.kind, ping.state, ping.attempts) == (SEND_PUSH, "pending", 0)
    assert msgspec.json.decode(ping.payload, type=PushPayload) == PushPayload(user_id="usr_1")
    assert [r.outbox_id for r in await store.list_outbox()] == [ping.outbox_id]
    trail = await store.audit_trail(offer_id="off_2")
    assert [(a.to_status, a.actor, a.reason_code) for a in trail] == [("offered", "admin", "offer_created")]
