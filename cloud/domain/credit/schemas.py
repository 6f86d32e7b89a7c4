"""JSON bodies of the credit evaluation admin endpoints."""

from __future__ import annotations

from typing import Annotated

import msgspec

from cloud.domain.credit.evaluation import EvaluationResult
from cloud.domain.credit.scorecard import MAX_MONTHS_ON_BOOK, IncomeBand

PaymentCount = Annotated[int, msgspec.Meta(ge=0, le=12)]


class SetCreditFeatures(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A user's scorecard inputs that the credit profile does not hold (strictly decoded)."""

    months_on_book: Annotated[int, msgspec.Meta(ge=0, le=MAX_MONTHS_ON_BOOK)]
    on_time_payments_12m: PaymentCount
    missed_payments_12m: PaymentCount
    income_band: IncomeBand


class CreditFeaturesOut(msgspec.Struct, kw_only=True):
    user_id: str
    months_on_book: int
    on_time_payments_12m: int
    missed_payments_12m: int
    income_band: str
    updated_at: int


class EvaluationQueued(msgspec.Struct, kw_only=True):
    """``202``: the evaluation is stored and its job queued (or left to the relay)."""

    evaluation_id: str
    job_id: str
    """The queue's id of the job's first attempt, ``{outbox_id}:0``."""


class EvaluationOut(msgspec.Struct, kw_only=True):
    evaluation_id: str
    user_id: str
    status: str
    """``pending``, ``done`` or ``failed`` (the job could not evaluate, or gave up after retries)."""
    trigger: str
    """``admin``, ``daily`` or ``seed``."""
    created_at: int
    updated_at: int
    offer_id: str | None
    """The offer the evaluation made, if any."""
    result: EvaluationResult | None
    """Score, scorecard lines, guardrail decision and estimate, terms, reason codes; ``None``
    while pending."""
