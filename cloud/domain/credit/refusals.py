"""Refusals of a credit-features update or an evaluation request (no HTTP status:
:data:`cloud.problems.DOMAIN_PROBLEMS` maps each to its answer).

Kept apart from :mod:`cloud.domain.credit.errors`, whose errors are the pure functions' bad
inputs (``ValueError``).
"""

from __future__ import annotations

from cloud.domain_errors import DomainError


class CreditFeaturesMissing(DomainError):
    """An evaluation needs the user's credit features (``PUT .../credit-features``)."""


class OpenOfferExists(DomainError):
    """The user has an offer in flight (``offered`` or ``accepted``): one offer at a time."""


class EvaluationNotFound(DomainError):
    """No evaluation with that id."""
