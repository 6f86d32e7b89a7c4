"""Credit evaluation over the store: features, requests, the job's run, and the daily batch.

One :class:`EvaluationService` serves the admin API (set features, request, read), the
``evaluate_credit`` job and the daily cron (in the worker), and the demo seed (in-process): all
of them evaluate through :meth:`EvaluationService.run`, so an offer made by any of them went
through the same scorecard, guardrail and store transaction.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Final

import msgspec

from cloud.clock import now_ms
from cloud.domain.analytics.services import StoreStressSignal
from cloud.domain.analytics.signal import NoStressSignal, StressSignal
from cloud.domain.credit.errors import CreditInputError
from cloud.domain.credit.evaluation import EvaluationResult, calm_time, credit_features, decide, failed
from cloud.domain.credit.guardrail import GuardrailConfig, validate_config
from cloud.domain.credit.notices import NoticeKind
from cloud.domain.credit.refusals import EvaluationNotFound
from cloud.domain.credit.schemas import CreditFeaturesOut, EvaluationOut, EvaluationQueued, SetCreditFeatures
from cloud.domain.credit.scorecard import OfferSettings, ProposedOffer, validate_features
from cloud.errors import ValidationFailed
from cloud.outbox.enqueue import OutboxDispatcher, outbox_job_id
from cloud.push.messages import PushPayload
from cloud.settings import CreditSettings
from cloud.store.protocol import Store
from cloud.store.records import (
    CompletionOutcome,
    CreditFeaturesRecord,
    EvaluationInputs,
    EvaluationRecord,
    EvaluationState,
    OfferTerms,
    OutboxRecord,
    OutboxState,
    ProfileRecord,
)

log = logging.getLogger(__name__)

WORKER_ACTOR: Final = "worker"
DAY_MS: Final = 86_400_000
MAX_STALE_RETRIES: Final = 3
_result_json: Final = msgspec.json.Encoder()
_NEUTRAL_PROFILE: Final = ProfileRecord(
    user_id="", currency="EUR", limit_cents=0, used_cents=0, rate_bps=0, updated_at=0
)
"""Stands in for the profile when only the stored features are checked."""


class EvaluationStale(RuntimeError):
    """The profile or the user's offers kept changing under the evaluation; the relay retries it."""


class RunOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What one run of the ``evaluate_credit`` job did."""

    outcome: str
    """``recorded``, ``failed`` (bad inputs, recorded as such) or ``already_done``."""
    offer_id: str | None = None
    enqueue: list[OutboxRecord] = msgspec.field(default_factory=list)
    """Pushes due now, for the caller to enqueue after the commit."""
    result: EvaluationResult | None = None
    """What the evaluation decided, when this run recorded it."""


def build_signal(store: Store, settings: CreditSettings) -> StressSignal:
    """The evaluation's stress source: the stored-aggregate posterior, or none (``STRESS_SIGNAL``)."""
    if settings.stress_signal == "none":
        return NoStressSignal()
    return StoreStressSignal(store, window_days=settings.stress_window_days)


def guardrail_config(settings: CreditSettings) -> GuardrailConfig:
    """The guardrail thresholds from the settings; raises ``InvalidGuardrailConfig``."""
    return validate_config(
        GuardrailConfig(
            act_threshold=settings.act_threshold,
            withhold_threshold=settings.withhold_threshold,
            min_days=settings.min_days,
            max_interval_width=settings.max_interval_width,
        )
    )


def utc_day(now: int) -> str:
    return datetime.fromtimestamp(now / 1000, tz=UTC).date().isoformat()


def new_evaluation_id() -> str:
    return "eval_" + secrets.token_hex(12)


def features_out(record: CreditFeaturesRecord) -> CreditFeaturesOut:
    return CreditFeaturesOut(
        user_id=record.user_id,
        months_on_book=record.months_on_book,
        on_time_payments_12m=record.on_time_payments_12m,
        missed_payments_12m=record.missed_payments_12m,
        income_band=record.income_band,
        updated_at=record.updated_at,
    )


def evaluation_out(record: EvaluationRecord) -> EvaluationOut:
    status = record.status
    if status == EvaluationState.PENDING.value and record.outbox_state == OutboxState.DEAD.value:
        status = EvaluationState.FAILED.value  # the relay gave up on its job
    return EvaluationOut(
        evaluation_id=record.evaluation_id,
        user_id=record.user_id,
        status=status,
        trigger=record.trigger,
        created_at=record.created_at,
        updated_at=record.updated_at,
        offer_id=record.offer_id,
        result=None if record.result is None else msgspec.json.decode(record.result, type=EvaluationResult),
    )


class EvaluationService:
    """Credit features, evaluation requests and runs (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        settings: CreditSettings,
        *,
        signal: StressSignal | None = None,
        outbox: OutboxDispatcher | None = None,
        clock: Callable[[], int] = now_ms,
        offer_settings: OfferSettings | None = None,
    ) -> None:
        self._store = store
        self._settings = settings
        self._config = guardrail_config(settings)
        self._signal = signal if signal is not None else build_signal(store, settings)
        self._outbox = outbox or OutboxDispatcher(None)
        self._clock = clock
        self._offer_settings = offer_settings or OfferSettings()

    # --- admin API -------------------------------------------------------------------------

    async def set_features(self, user_id: str, data: SetCreditFeatures) -> CreditFeaturesOut:
        """Create or replace the user's credit features. Raises ``UserNotFound`` or
        ``ValidationFailed`` (payment counts that disagree with each other or the tenure)."""
        try:
            # The profile's part does not matter here: only the stored fields are checked.
            validate_features(
                credit_features(
                    CreditFeaturesRecord(
                        user_id=user_id,
                        months_on_book=data.months_on_book,
                        on_time_payments_12m=data.on_time_payments_12m,
                        missed_payments_12m=data.missed_payments_12m,
                        income_band=data.income_band.value,
                        updated_at=0,
                    ),
                    _NEUTRAL_PROFILE,
                )
            )
        except CreditInputError as exc:
            raise ValidationFailed(str(exc)) from exc
        record = CreditFeaturesRecord(
            user_id=user_id,
            months_on_book=data.months_on_book,
            on_time_payments_12m=data.on_time_payments_12m,
            missed_payments_12m=data.missed_payments_12m,
            income_band=data.income_band.value,
            updated_at=self._clock(),
        )
        await self._store.set_credit_features(record)
        return features_out(record)

    async def request(self, user_id: str, trigger: str = "admin") -> EvaluationQueued:
        """Store an evaluation request and enqueue its job after the commit.

        Raises ``UserNotFound`` / ``ProfileMissing`` / ``CreditFeaturesMissing`` /
        ``OpenOfferExists`` (nothing written then).
        """
        now = self._clock()
        requested = await self._store.request_evaluation(
            user_id, new_evaluation_id(), trigger=trigger, day=utc_day(now), now=now
        )
        await self._outbox.dispatch([requested.outbox])
        return EvaluationQueued(
            evaluation_id=requested.evaluation.evaluation_id,
            job_id=outbox_job_id(requested.outbox.outbox_id, requested.outbox.attempts),
        )

    async def get(self, evaluation_id: str) -> EvaluationOut:
        """Raises :class:`EvaluationNotFound`."""
        record = await self._store.get_evaluation(evaluation_id)
        if record is None:
            raise EvaluationNotFound(f"no evaluation {evaluation_id}")
        return evaluation_out(record)

    # --- the job ---------------------------------------------------------------------------

    async def run(self, outbox_id: int, *, ref: str) -> RunOutcome:
        """Evaluate the request of outbox row ``outbox_id`` once (idempotent through the row).

        The stress estimate is read before the write transaction; if the profile or the user's
        offers changed in between, the evaluation is computed again (at most
        :data:`MAX_STALE_RETRIES` times, then :class:`EvaluationStale` for the relay to retry).
        """
        for _ in range(MAX_STALE_RETRIES):
            inputs = await self._store.evaluation_inputs(outbox_id)
            if inputs is None:
                return RunOutcome(outcome=CompletionOutcome.ALREADY_DONE.value)
            now = self._clock()
            status, result, offer, defer = await self._compute(inputs, now)
            terms = None if offer is None else self._terms(inputs, offer)
            announcement = None
            if terms is not None and inputs.profile is not None:
                # A generic push (cloud.push.messages.LOCK_SCREEN_TITLE): the offer, its amount
                # and its reasons reach the app by sync, never the lock screen.
                announcement = PushPayload(
                    user_id=inputs.evaluation.user_id,
                    notice_id=f"{NoticeKind.OFFER_AVAILABLE.value}:{terms.offer_id}",
                    notice_kind=NoticeKind.OFFER_AVAILABLE.value,
                    offer_id=terms.offer_id,
                )
            completed = await self._store.complete_evaluation(
                outbox_id,
                status=status,
                result=_result_json.encode(result),
                terms=terms,
                read=inputs,
                announcement=announcement,
                announce_not_before=result.promo_not_before if defer else None,
                actor=WORKER_ACTOR,
                ref=ref,
                now=now,
            )
            if completed.outcome is CompletionOutcome.STALE:
                continue
            if completed.outcome is CompletionOutcome.ALREADY_DONE:
                return RunOutcome(outcome=completed.outcome.value)
            outcome = "failed" if status is EvaluationState.FAILED else completed.outcome.value
            return RunOutcome(
                outcome=outcome,
                offer_id=None if completed.offer is None else completed.offer.offer_id,
                enqueue=completed.enqueue,
                result=result,
            )
        raise EvaluationStale(f"outbox row {outbox_id}: inputs changed {MAX_STALE_RETRIES} times")

    async def _compute(
        self, inputs: EvaluationInputs, now: int
    ) -> tuple[EvaluationState, EvaluationResult, ProposedOffer | None, bool]:
        if inputs.features is None or inputs.profile is None:
            what = "credit features" if inputs.features is None else "credit profile"
            return EvaluationState.FAILED, failed(f"no {what}"), None, False
        try:
            features = credit_features(inputs.features, inputs.profile)
            day = datetime.fromtimestamp(now / 1000, tz=UTC).date()
            estimate = await self._signal.stress(inputs.evaluation.user_id, day)
            decision = decide(
                features,
                estimate,
                now,
                config=self._config,
                settings=self._offer_settings,
                open_offer=inputs.open_offer_id is not None,
                calm=calm_time(
                    now,
                    self._settings.promo_calm_hour,
                    self._settings.promo_defer_min_hours,
                    await self._tz_offset_min(inputs.evaluation.user_id, day),
                ),
            )
        except (CreditInputError, ValueError) as exc:
            # Bad stored inputs or an incoherent estimate: recorded as failed, never guessed around.
            log.warning("evaluation %s failed: %r", inputs.evaluation.evaluation_id, exc)
            return EvaluationState.FAILED, failed(f"{type(exc).__name__}: {exc}"), None, False
        return EvaluationState.DONE, decision.result, decision.offer, decision.defer_promotional

    async def _tz_offset_min(self, user_id: str, day: date) -> int:
        """The user's UTC offset as their latest aggregate in the stress window says; 0 if none."""
        first = day - timedelta(days=self._settings.stress_window_days)
        recent = await self._store.user_aggregates(user_id, first.isoformat(), day.isoformat())
        return recent[-1].tz_offset_min if recent else 0

    @staticmethod
    def _terms(inputs: EvaluationInputs, offer: ProposedOffer) -> OfferTerms:
        return OfferTerms(
            offer_id="off_" + secrets.token_hex(12),
            user_id=inputs.evaluation.user_id,
            new_limit_cents=offer.new_limit_cents,
            rate_bps=offer.rate_bps,
            term_months=offer.term_months,
            expires_at=offer.expires_at,
            reason_codes=list(offer.reason_codes),
            policy_version=offer.policy_version,
        )

    # --- the daily cron --------------------------------------------------------------------

    async def request_daily(self) -> list[OutboxRecord]:
        """Write today's evaluation requests for every active user, in batches; their outbox rows."""
        now = self._clock()
        rows: list[OutboxRecord] = []
        while True:
            batch = await self._store.request_daily_evaluations(
                day=utc_day(now),
                now=now,
                recent_ms=DAY_MS,
                limit=self._settings.daily_batch_size,
                new_id=new_evaluation_id,
            )
            rows.extend(r.outbox for r in batch)
            if len(batch) < self._settings.daily_batch_size:
                return rows
