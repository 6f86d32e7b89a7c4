"""Which notices may wait for a calmer time: promotional ones only, never transactional ones.

A transactional notice tells the user what happened to their money (a limit applied, an acceptance
that failed); holding it back would hide a fact, so it is never deferred, whatever the stress
signal says. A promotional notice invites the user to take credit; the guardrail may defer it while
recent stress is high (DESIGN §1: never push credit at a distressed user).
"""

from __future__ import annotations

import enum


class NoticeClass(enum.StrEnum):
    """Whether a notice reports a fact about the user's money or promotes an offer."""

    TRANSACTIONAL = "transactional"
    PROMOTIONAL = "promotional"


class NoticeKind(enum.StrEnum):
    """The notice kinds the offer pipeline sends (the ``kind`` of a ``sync.messages.Notice``)."""

    LIMIT_APPLIED = "limit_applied"
    ACCEPTANCE_FAILED = "acceptance_failed"
    OFFER_AVAILABLE = "offer_available"
    OFFER_REMINDER = "offer_reminder"
    REVIEW_COMPLETED = "review_completed"


NOTICE_CLASSES: dict[NoticeKind, NoticeClass] = {
    NoticeKind.LIMIT_APPLIED: NoticeClass.TRANSACTIONAL,
    NoticeKind.ACCEPTANCE_FAILED: NoticeClass.TRANSACTIONAL,
    NoticeKind.OFFER_AVAILABLE: NoticeClass.PROMOTIONAL,
    NoticeKind.OFFER_REMINDER: NoticeClass.PROMOTIONAL,
    NoticeKind.REVIEW_COMPLETED: NoticeClass.TRANSACTIONAL,
}


def notice_class(kind: str) -> NoticeClass:
    """The class of a notice ``kind``.

    A kind that is not a :class:`NoticeKind` (an operator's free-form notice from the admin API)
    counts as transactional: only what is known to be promotional may ever be held back.
    """
    try:
        return NOTICE_CLASSES[NoticeKind(kind)]
    except ValueError:
        return NoticeClass.TRANSACTIONAL


def may_defer(kind: str, defer_promotional: bool) -> bool:
    """Whether a notice of ``kind`` may be deferred, given the guardrail's ``defer_promotional``.

    Always ``False`` for a transactional notice.
    """
    return defer_promotional and notice_class(kind) is NoticeClass.PROMOTIONAL
