"""One named exception per way an offer or profile operation of the admin API can fail.

The state machine's own errors (:mod:`cloud.domain.offers.rules`) are pure ``ValueError``s; the
store turns a refused admin transition into :class:`OfferClosed`, which has a problem answer.
"""

from __future__ import annotations

from cloud.errors import ApiError, NotFound, ValidationFailed
from sync.codes import ErrorCode


class OfferNotFound(NotFound):
    title = "Offer not found"


class ProfileMissing(ValidationFailed):
    """An offer needs the user's credit profile (its current limit is the offer's base)."""

    title = "User has no credit profile"


class InvalidOfferTerms(ValidationFailed):
    """Offer terms that validate field by field but not together (expiry in the past, a new limit
    not above the current one)."""

    title = "Offer terms are invalid"


class OfferClosed(ApiError):
    """The offer is not ``offered`` any more, so it cannot be withdrawn."""

    status = 409
    code = ErrorCode.OFFER_CLOSED
    title = "Offer is not open"


class OutboxRowNotFound(NotFound):
    title = "Outbox row not found"


class OutboxNotRetryable(ApiError):
    """An operator's retry of an outbox row that is not dead, or whose work cannot be done any more
    (a dead ``apply_offer`` row whose offer is ``failed``: terminal, and the user was told)."""

    status = 409
    code = ErrorCode.OUTBOX_NOT_RETRYABLE
    title = "Outbox row cannot be retried"
