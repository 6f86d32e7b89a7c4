"""What the user is told when an accepted offer is applied or fails: the notices' ids and texts, in
each supported locale (the user's, as their devices last sent it).

Pure functions, so the words a user reads about their money are written once, next to the rules
that decide them, and every store engine sends the same ones. A notice id is derived from the offer,
so an offer is announced applied (or failed) at most once whatever runs the job twice.
"""

from __future__ import annotations

import msgspec

from cloud.domain.credit.notices import NoticeKind
from sync.locales import Locale


class NoticeText(msgspec.Struct, frozen=True, kw_only=True):
    notice_id: str
    kind: NoticeKind
    title: str
    body: str


def money(cents: int, currency: str, locale: Locale = Locale.EN) -> str:
    """``123456, "EUR"`` → ``"1,234.56 EUR"`` (``"1.234,56 EUR"`` in ``pt-BR``)."""
    text = f"{cents // 100:,}.{cents % 100:02d}"
    if locale is Locale.PT_BR:
        text = text.replace(",", " ").replace(".", ",").replace(" ", ".")
    return f"{text} {currency}"


def rate(bps: int, locale: Locale = Locale.EN) -> str:
    """``1990`` → ``"19.90 %"`` (``"19,90 %"`` in ``pt-BR``)."""
    separator = "," if locale is Locale.PT_BR else "."
    return f"{bps // 100}{separator}{bps % 100:02d} %"


def limit_applied(offer_id: str, new_limit_cents: int, currency: str, locale: Locale) -> NoticeText:
    amount = money(new_limit_cents, currency, locale)
    if locale is Locale.PT_BR:
        title, body = "Seu novo limite de crédito está ativo", f"Seu limite de crédito agora é {amount}."
    else:
        title, body = "Your new credit limit is active", f"Your credit limit is now {amount}."
    return NoticeText(
        notice_id=f"limit_applied:{offer_id}", kind=NoticeKind.LIMIT_APPLIED, title=title, body=body
    )


def acceptance_failed(offer_id: str, locale: Locale) -> NoticeText:
    """The offer's application was tried and never succeeded (its outbox row went dead-letter)."""
    if locale is Locale.PT_BR:
        title = _FAILED_PT
        body = "Recebemos seu aceite, mas não foi possível aplicá-lo; seu limite não mudou."
    else:
        title = _FAILED_EN
        body = "Your acceptance was received but could not be applied; your limit is unchanged."
    return NoticeText(
        notice_id=f"acceptance_failed:{offer_id}", kind=NoticeKind.ACCEPTANCE_FAILED, title=title, body=body
    )


_FAILED_EN = "We could not apply your new credit limit"
_FAILED_PT = "Não foi possível aplicar seu novo limite de crédito"


def base_changed(
    offer_id: str,
    *,
    base_limit_cents: int,
    base_rate_bps: int | None,
    limit_cents: int,
    rate_bps: int,
    currency: str,
    locale: Locale,
) -> NoticeText:
    """The account changed after the offer was made, so it was not applied (``ApplyVerdict.BASE_CHANGED``).

    Same id as :func:`acceptance_failed`: an offer fails once, for one reason.
    """
    made_on = money(base_limit_cents, currency, locale)
    now_on = f"{money(limit_cents, currency, locale)}"
    if locale is Locale.PT_BR:
        if base_rate_bps is not None:
            made_on += f" a {rate(base_rate_bps, locale)}"
        title = _FAILED_PT
        body = (
            f"Esta oferta foi feita para uma conta com limite de {made_on}. Sua conta mudou desde então"
            f" (agora tem limite de {now_on} a {rate(rate_bps, locale)}), então a oferta não foi aplicada e"
            " nada foi alterado."
        )
    else:
        if base_rate_bps is not None:
            made_on += f" at {rate(base_rate_bps, locale)}"
        title = _FAILED_EN
        body = (
            f"This offer was made for an account with a limit of {made_on}. Your account has changed"
            f" since (it now has a limit of {now_on} at {rate(rate_bps, locale)}), so the"
            " offer was not applied and nothing was changed."
        )
    return NoticeText(
        notice_id=f"acceptance_failed:{offer_id}", kind=NoticeKind.ACCEPTANCE_FAILED, title=title, body=body
    )


def review_completed(review_id: str, resolution: str, locale: Locale) -> NoticeText:
    """A person reviewed the decision the user asked about; ``resolution`` is the reviewer's answer."""
    if locale is Locale.PT_BR:
        title, intro = "Uma pessoa revisou a decisão sobre sua oferta", "Resposta do revisor:"
    else:
        title, intro = "A person reviewed the decision on your offer", "The reviewer's answer:"
    return NoticeText(
        notice_id=f"review_completed:{review_id}",
        kind=NoticeKind.REVIEW_COMPLETED,
        title=title,
        body=f"{intro} {resolution}",
    )
