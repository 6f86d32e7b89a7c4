"""One named exception per way an offer or profile operation can fail (no HTTP status:
:data:`cloud.problems.DOMAIN_PROBLEMS` maps each to its answer).

The state machine's own errors (:mod:`cloud.domain.offers.rules`) are pure ``ValueError``s; the
store turns a refused admin transition into :class:`OfferClosed`.
"""

from __future__ import annotations

from cloud.domain_errors import DomainError


class OfferNotFound(DomainError):
    """No offer with that id."""


class ProfileMissing(DomainError):
    """An offer needs the user's credit profile (its current limit is the offer's base)."""


class InvalidOfferTerms(DomainError):
    """Offer terms that validate field by field but not together (expiry in the past, a new limit
    not above the current one)."""


class OfferClosed(DomainError):
    """The offer is not ``offered`` any more, so it cannot be withdrawn."""


class OutboxRowNotFound(DomainError):
    """No outbox row with that id."""


class OutboxNotRetryable(DomainError):
    """An operator's retry of an outbox row that is not dead, or whose work cannot be done any more
    (a dead ``apply_offer`` row whose offer is ``failed``: terminal, and the user was told)."""
