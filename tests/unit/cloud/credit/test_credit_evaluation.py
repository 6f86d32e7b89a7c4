"""The evaluation as the ``evaluate_credit`` job runs it, over a real SQLite store.

The stress estimate is the input under test here, so it comes from a signal that answers a given
estimate; everything after it (scorecard, guardrail, the store transaction) is the real code.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime

import msgspec
import pytest

from cloud.domain.analytics.signal import NoStressSignal, StressEstimate
from cloud.domain.credit.evaluation import OPEN_OFFER_EXISTS, EvaluationResult, calm_time, utilisation_bps
from cloud.domain.credit.services import EvaluationService, RunOutcome
from cloud.settings import CreditSettings
from cloud.store import Store
from cloud.store.records import CreditFeaturesRecord, OfferTerms, ProfileRecord

pytestmark = pytest.mark.anyio

NOW = 1_700_000_000_000  # 2023-11-14 22:13:20 UTC
HOUR_MS = 3_600_000


class GivenSignal:
    """Answers the same estimate for every user (``None``: no signal)."""

    def __init__(self, estimate: StressEstimate | None) -> None:
        self.estimate = estimate
        self.asked: list[tuple[str, date]] = []

    async def stress(self, user_id: str, as_of_day: date) -> StressEstimate | None:
        self.asked.append((user_id, as_of_day))
        return self.estimate


def estimate(mean: float, n_days: int = 30, width: float = 0.3) -> StressEstimate:
    lower = max(0.0, mean - width / 2)
    return StressEstimate(
        posterior_mean=mean, lower=lower, upper=min(1.0, lower + width), n_days=n_days, prob_recent_high=mean
    )


_users = itertools.count()


async def user(
    store: Store,
    *,
    limit: int = 200_000,
    used: int = 20_000,
    rate: int = 1_990,
    months: int = 36,
    on_time: int = 12,
    missed: int = 0,
    income: str = "high",
) -> str:
    user_id = f"usr_{next(_users)}"
    await store.create_user(user_id, None, NOW)
    await store.set_profile(
        ProfileRecord(
            user_id=user_id, currency="EUR", limit_cents=limit, used_cents=used, rate_bps=rate, updated_at=NOW
        ),
        actor="admin",
        reason_code="profile_set",
    )
    await store.set_credit_features(
        CreditFeaturesRecord(
            user_id=user_id,
            months_on_book=months,
            on_time_payments_12m=on_time,
            missed_payments_12m=missed,
            income_band=income,
            updated_at=NOW,
        )
    )
    return user_id


async def evaluate(
    service: EvaluationService, store: Store, user_id: str
) -> tuple[RunOutcome, EvaluationResult]:
    queued = await service.request(user_id)
    outbox_id = int(queued.job_id.split(":")[0])
    outcome = await service.run(outbox_id, ref=f"job:{queued.job_id}")
    out = await service.get(queued.evaluation_id)
    assert out.result is not None
    return outcome, out.result


def service_with(store: Store, signal: object, **settings: object) -> EvaluationService:
    return EvaluationService(
        store,
        CreditSettings(**settings),  # type: ignore[arg-type]
        signal=signal,  # type: ignore[arg-type]
        clock=lambda: NOW,
    )


def test_calm_time_is_the_first_calm_hour_after_the_minimum_wait() -> None:
    def at(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="minutes")

    # 22:13 + 12 h = 10:13 the next day: 10:00 has passed, so the day after.
    assert at(calm_time(NOW, 10, 12)) == "2023-11-16T10:00+00:00"
    assert at(calm_time(NOW, 11, 12)) == "2023-11-15T11:00+00:00"
    assert at(calm_time(NOW, 22, 0)) == "2023-11-15T22:00+00:00"
    exact = int(datetime(2023, 11, 15, 10, tzinfo=UTC).timestamp() * 1000)
    assert calm_time(exact, 10, 0) == exact


def test_calm_time_is_the_users_local_hour() -> None:
    def at(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="minutes")

    # UTC+2: 10:00 local is 08:00 UTC; 00:13 local + 12 h = 12:13 local, so the day after.
    assert at(calm_time(NOW, 10, 12, tz_offset_min=120)) == "2023-11-16T08:00+00:00"
    # UTC-5: 17:13 local + 12 h = 05:13 local, so 10:00 local that day = 15:00 UTC.
    assert at(calm_time(NOW, 10, 12, tz_offset_min=-300)) == "2023-11-15T15:00+00:00"
    # UTC+5:30: a half-hour offset keeps its minutes.
    assert at(calm_time(NOW, 10, 0, tz_offset_min=330)) == "2023-11-15T04:30+00:00"


@pytest.mark.parametrize(
    ("limit", "used", "bps"),
    [
        (100_000, 0, 0),
        (100_000, 30_000, 3_000),
        (100_000, 33_333, 3_333),
        (100_000, 250_000, 10_000),
        (0, 0, 0),
        (0, 1, 10_000),
    ],
)
def test_utilisation_is_rounded_down_and_capped(limit: int, used: int, bps: int) -> None:
    profile = ProfileRecord(
        user_id="u", currency="EUR", limit_cents=limit, used_cents=used, rate_bps=0, updated_at=0
    )
    assert utilisation_bps(profile) == bps


async def test_evaluation_makes_an_offer_with_every_reason_code(store: Store) -> None:
    signal = GivenSignal(None)
    service = service_with(store, signal)
    user_id = await user(store)
    outcome, result = await evaluate(service, store, user_id)
    assert outcome.outcome == "recorded" and outcome.offer_id is not None
    assert signal.asked == [(user_id, date(2023, 11, 14))]
    # months 36 (+60), utilisation 10 % (+80), 12 on time (+60), none missed (+40), high income (+40).
    assert (result.score, result.risk_band) == (680, "A")
    assert [line.reason_code for line in result.lines] == [
        "MOB_24_59",
        "UTIL_LE_30",
        "ONTIME_12",
        "MISSED_0",
        "INCOME_HIGH",
    ]
    assert result.offer is not None and result.proposed is not None
    assert result.proposed == msgspec.structs.replace(result.offer, reason_codes=result.reason_codes[:-1])
    assert (result.offer.current_limit_cents, result.offer.new_limit_cents, result.offer.rate_bps) == (
        200_000,
        300_000,
        1_290,
    )
    assert result.reason_codes[-2:] == ["RISK_BAND_A", "GUARDRAIL_NO_SIGNAL"]
    assert result.guardrail is not None and result.guardrail.estimate is None
    offer = await store.get_offer(outcome.offer_id)
    assert offer is not None
    assert offer.reason_codes == result.reason_codes == result.offer.reason_codes
    assert (offer.new_limit_cents, offer.rate_bps, offer.policy_version) == (
        300_000,
        1_290,
        "scorecard-2024.1",
    )
    trail = await store.audit_trail(offer_id=offer.offer_id)
    evaluation = (await store.list_evaluations(user_id))[0]
    assert [(a.actor, a.reason_code, a.ref) for a in trail] == [
        ("worker", "offer_created", f"job:{evaluation.outbox_id}:0")
    ]
    # Running the same job again does nothing.
    again = await service.run(evaluation.outbox_id or 0, ref="job:again")
    assert again.outcome == "already_done"
    assert len(await store.list_offers(user_id)) == 1


async def test_guardrail_lowers_the_increase_and_defers_the_announcement(store: Store) -> None:
    service = service_with(store, GivenSignal(estimate(0.45)))
    user_id = await user(store)
    _, result = await evaluate(service, store, user_id)
    assert result.offer is not None and result.proposed is not None
    assert (result.proposed.new_limit_cents, result.offer.new_limit_cents) == (300_000, 250_000)
    assert result.reason_codes[-2:] == ["GUARDRAIL_INCREASE_LOWERED", "GUARDRAIL_PROMO_DEFERRED"]
    assert result.promo_not_before == calm_time(NOW, 10, 12)
    assert result.guardrail is not None and result.guardrail.estimate == estimate(0.45)


async def test_deferred_announcement_waits_for_the_users_local_calm_hour(store: Store) -> None:
    """The phone's reported UTC offset (on its latest aggregate) sets the user's local calm hour."""
    from sync.messages import ConsentScope, SetConsent
    from tests.conformance.test_store_conformance import enrolled, item, sync
    from tests.support.live_server import sample_aggregate

    service = service_with(store, GivenSignal(estimate(0.45)))
    user_id = await user(store)
    device = f"dev_{user_id}"
    await enrolled(store, user_id, device, f"rt-{device}")
    day = datetime.fromtimestamp(NOW / 1000, tz=UTC).date().isoformat()
    await sync(
        store,
        device,
        [
            item(SetConsent(seq=1, created_at=NOW, scope=ConsentScope.SHARE_AGGREGATES, granted=True)),
            item(msgspec.structs.replace(sample_aggregate(2, day=day, created_at=NOW), tz_offset_min=120)),
        ],
    )
    _, result = await evaluate(service, store, user_id)
    assert result.promo_not_before == calm_time(NOW, 10, 12, tz_offset_min=120)
    assert result.promo_not_before != calm_time(NOW, 10, 12)


async def test_guardrail_withholds_and_says_why(store: Store) -> None:
    service = service_with(store, GivenSignal(estimate(0.7)))
    user_id = await user(store)
    outcome, result = await evaluate(service, store, user_id)
    assert (outcome.outcome, outcome.offer_id, result.offer) == ("recorded", None, None)
    assert result.no_offer_reason == "GUARDRAIL_OFFER_WITHHELD"
    assert await store.list_offers(user_id) == []


async def test_scorecard_refusal_is_the_reason_even_under_stress(store: Store) -> None:
    service = service_with(store, GivenSignal(estimate(0.7)))
    user_id = await user(store, missed=3, on_time=9, income="low", used=190_000)
    _, result = await evaluate(service, store, user_id)
    assert result.offer is None and result.no_offer_reason == "NO_OFFER_RISK_BAND"


async def test_offer_made_after_the_request_means_no_offer(store: Store) -> None:
    service = service_with(store, GivenSignal(None))
    user_id = await user(store)
    queued = await service.request(user_id)
    admin_offer = OfferTerms(
        offer_id="off_admin",
        user_id=user_id,
        new_limit_cents=250_000,
        rate_bps=1_500,
        term_months=12,
        expires_at=NOW + 86_400_000,
        reason_codes=[],
        policy_version="manual",
    )
    await store.create_offer(admin_offer, actor="admin", now=NOW)
    outcome = await service.run(int(queued.job_id.split(":")[0]), ref="job:x")
    assert (outcome.outcome, outcome.offer_id) == ("recorded", None)
    result = (await service.get(queued.evaluation_id)).result
    assert result is not None and result.no_offer_reason == OPEN_OFFER_EXISTS
    assert [o.offer_id for o in await store.list_offers(user_id)] == ["off_admin"]


async def test_bad_stored_inputs_fail_the_evaluation(store: Store) -> None:
    service = service_with(store, GivenSignal(None))
    # Twelve payments reported for three months on book: refused by the scorecard.
    user_id = await user(store, months=3)
    outcome, result = await evaluate(service, store, user_id)
    assert outcome.outcome == "failed"
    assert result.error is not None and "PaymentsExceedTenure" in result.error
    [evaluation] = await store.list_evaluations(user_id)
    assert evaluation.status == "failed"
    assert await store.list_offers(user_id) == []


GRID_ESTIMATES = [
    None,
    estimate(0.2),
    estimate(0.36),
    estimate(0.5),
    estimate(0.56),
    estimate(0.9, width=0.1),
    estimate(0.5, n_days=3),
    estimate(0.6, width=0.9),
]
GRID_USERS = [
    {"limit": limit, "used": used, "rate": rate, "missed": missed, "income": income}
    for limit, used, rate, missed, income in itertools.product(
        [10_000, 200_000, 4_900_000], [0, 150_000], [900, 2_400], [0, 2], ["medium", "very_high"]
    )
]


async def test_never_worse_through_the_job(store: Store) -> None:
    """Over a grid of users and estimates: the offer with any estimate is never pricier nor larger
    than without a signal, exists only if that one does, and never costs more than the profile."""
    baseline = service_with(store, NoStressSignal())
    checked = 0
    for spec in GRID_USERS:
        plain_user = await user(store, **spec)  # type: ignore[arg-type]
        _, plain = await evaluate(baseline, store, plain_user)
        for est in GRID_ESTIMATES:
            guarded_user = await user(store, **spec)  # type: ignore[arg-type]
            _, guarded = await evaluate(service_with(store, GivenSignal(est)), store, guarded_user)
            if guarded.offer is None:
                continue
            assert plain.offer is not None, (spec, est)
            assert guarded.offer.rate_bps <= plain.offer.rate_bps <= spec["rate"]  # type: ignore[operator]
            assert spec["limit"] < guarded.offer.new_limit_cents <= plain.offer.new_limit_cents
            assert guarded.offer.term_months == plain.offer.term_months
            [offer] = await store.list_offers(guarded_user)
            assert (offer.new_limit_cents, offer.rate_bps) == (
                guarded.offer.new_limit_cents,
                guarded.offer.rate_bps,
            )
            assert offer.rate_bps <= spec["rate"]  # type: ignore[operator]
            checked += 1
    # The grid must exercise both outcomes, or the property says nothing.
    assert checked > len(GRID_USERS)
    assert msgspec.json.encode(plain)  # the stored result round-trips as JSON


async def test_evaluation_whose_job_went_dead_letter_reads_failed(store: Store) -> None:
    service = service_with(store, GivenSignal(None))
    user_id = await user(store)
    queued = await service.request(user_id)
    assert (await service.get(queued.evaluation_id)).status == "pending"
    outcome = await store.relay_outbox(now=NOW + 60_000, timeout_ms=0, max_attempts=1)
    assert outcome.dead == [int(queued.job_id.split(":")[0])]
    evaluation = await service.get(queued.evaluation_id)
    assert (evaluation.status, evaluation.result, evaluation.offer_id) == ("failed", None, None)
    # A late run of the job finds the row dead and does nothing.
    assert (await service.run(int(queued.job_id.split(":")[0]), ref="job:late")).outcome == "already_done"
    assert await store.list_offers(user_id) == []
