"""What the user is told when an accepted offer is applied or fails: the notices' ids and texts.

Pure functions, so the words a user reads about their money are written once, next to the rules
that decide them, and every store engine sends the same ones. A notice id is derived from the offer,
so an offer is announced applied (or failed) at most once whatever runs the job twice.
"""

from __future__ import annotations

import msgspec

from cloud.domain.credit.notices import NoticeKind


class NoticeText(msgspec.Struct, frozen=True, kw_only=True):
    notice_id: str
    kind: NoticeKind
    title: str
    body: str


def money(cents: int, currency: str) -> str:
    """``123456, "EUR"`` → ``"1,234.56 EUR"``."""
    return f"{cents // 100:,}.{cents % 100:02d} {currency}"


def rate(bps: int) -> str:
    """``1990`` → ``"19.90 %"``."""
    return f"{bps // 100}.{bps % 100:02d} %"


def limit_applied(offer_id: str, new_limit_cents: int, currency: str) -> NoticeText:
    return NoticeText(
        notice_id=f"limit_applied:{offer_id}",
        kind=NoticeKind.LIMIT_APPLIED,
        title="Your new credit limit is active",
        body=f"Your credit limit is now {money(new_limit_cents, currency)}.",
    )


def acceptance_failed(offer_id: str) -> NoticeText:
    """The offer's application was tried and never succeeded (its outbox row went dead-letter)."""
    return NoticeText(
        notice_id=f"acceptance_failed:{offer_id}",
        kind=NoticeKind.ACCEPTANCE_FAILED,
        title="We could not apply your new credit limit",
        body="Your acceptance was received but could not be applied; your limit is unchanged.",
    )


def base_changed(
    offer_id: str,
    *,
    base_limit_cents: int,
    base_rate_bps: int | None,
    limit_cents: int,
    rate_bps: int,
    currency: str,
) -> NoticeText:
    """The account changed after the offer was made, so it was not applied (``ApplyVerdict.BASE_CHANGED``).

    Same id as :func:`acceptance_failed`: an offer fails once, for one reason.
    """
    made_on = money(base_limit_cents, currency)
    if base_rate_bps is not None:
        made_on += f" at {rate(base_rate_bps)}"
    return NoticeText(
        notice_id=f"acceptance_failed:{offer_id}",
        kind=NoticeKind.ACCEPTANCE_FAILED,
        title="We could not apply your new credit limit",
        body=(
            f"This offer was made for an account with a limit of {made_on}. Your account has changed"
            f" since (it now has a limit of {money(limit_cents, currency)} at {rate(rate_bps)}), so the"
            " offer was not applied and nothing was changed."
        ),
    )
