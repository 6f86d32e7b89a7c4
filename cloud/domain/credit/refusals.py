"""The admin API's refusals of a credit-features update or an evaluation request (problem+json).

Kept apart from :mod:`cloud.domain.credit.errors`, whose errors are the pure functions' bad
inputs (``ValueError``); these carry an HTTP status and a stable code.
"""

from __future__ import annotations

from cloud.errors import ApiError, NotFound, ValidationFailed
from sync.codes import ErrorCode


class CreditFeaturesMissing(ValidationFailed):
    """An evaluation needs the user's credit features (``PUT .../credit-features``)."""

    title = "User has no credit features"


class OpenOfferExists(ApiError):
    """The user has an offer in flight (``offered`` or ``accepted``): one offer at a time."""

    status = 409
    code = ErrorCode.OFFER_IN_FLIGHT
    title = "User has an offer in flight"


class EvaluationNotFound(NotFound):
    title = "Evaluation not found"
