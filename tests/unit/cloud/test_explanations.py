"""Plain-language reasons and localized notices: every code the scorecard and the guardrail can give
has a sentence in every supported locale, and the texts a user reads about money are localized."""

from __future__ import annotations

import pytest

from cloud.domain.credit import guardrail, scorecard
from cloud.domain.credit.explanations import REASONS, explain
from cloud.domain.offers.notices import acceptance_failed, base_changed, limit_applied, money, rate
from sync.locales import Locale


def emitted_codes() -> set[str]:
    """Every reason code the scorecard and the guardrail can put on an evaluation or an offer."""
    codes = {code for table in (
        scorecard.MONTHS_ON_BOOK_BANDS,
        scorecard.UTILISATION_BANDS,
        scorecard.ON_TIME_BANDS,
        scorecard.MISSED_BANDS,
    ) for _, code, _ in table}  # fmt: skip
    codes |= {code for code, _ in scorecard.INCOME_POINTS.values()}
    codes |= {f"RISK_BAND_{band.value}" for band in scorecard.RiskBand}
    codes |= {
        value
        for name, value in vars(scorecard).items()
        if name.startswith(("NO_OFFER_", "INCREASE_", "RATE_"))
    }
    codes |= {
        value
        for name, value in vars(guardrail).items()
        if name.startswith("GUARDRAIL_") and isinstance(value, str)
    }
    return codes


def test_every_code_has_a_sentence_in_every_locale() -> None:
    codes = emitted_codes()
    assert len(codes) > 30
    assert codes <= REASONS.keys(), sorted(codes - REASONS.keys())
    for code, texts in REASONS.items():
        assert set(texts) == set(Locale), code
        for text in texts.values():
            assert 0 < len(text) <= 500 and text.endswith("."), (code, text)
            assert "_" not in text, (code, text)  # never a code in the user's text


def test_no_sentence_for_a_code_nothing_gives() -> None:
    assert REASONS.keys() <= emitted_codes()


@pytest.mark.parametrize("locale", list(Locale))
def test_explain_keeps_the_order_and_leaves_out_unknown_codes(locale: Locale) -> None:
    out = explain(["RISK_BAND_B", "LENDER_PROMO_7", "ONTIME_12"], locale)
    assert out == [REASONS["RISK_BAND_B"][locale], REASONS["ONTIME_12"][locale]]
    assert explain([], locale) == []


def test_portuguese_is_not_english() -> None:
    assert all(texts[Locale.PT_BR] != texts[Locale.EN] for texts in REASONS.values())


@pytest.mark.parametrize(
    ("locale", "amount", "percent"),
    [(Locale.EN, "1,234,567.89 BRL", "19.90 %"), (Locale.PT_BR, "1.234.567,89 BRL", "19,90 %")],
)
def test_money_and_rates_are_written_the_locales_way(locale: Locale, amount: str, percent: str) -> None:
    assert money(123_456_789, "BRL", locale) == amount
    assert money(5, "BRL", locale).endswith("0" + ("," if locale is Locale.PT_BR else ".") + "05 BRL")
    assert rate(1_990, locale) == percent


def test_notices_in_each_locale() -> None:
    en = limit_applied("of_1", 250_000, "BRL", Locale.EN)
    pt = limit_applied("of_1", 250_000, "BRL", Locale.PT_BR)
    assert (en.notice_id, en.kind) == (pt.notice_id, pt.kind) == ("limit_applied:of_1", "limit_applied")
    assert en.body == "Your credit limit is now 2,500.00 BRL."
    assert pt.body == "Seu limite de crédito agora é 2.500,00 BRL."
    assert (
        acceptance_failed("of_1", Locale.PT_BR).title == "Não foi possível aplicar seu novo limite de crédito"
    )
    changed = base_changed(
        "of_1",
        base_limit_cents=100_000,
        base_rate_bps=1_990,
        limit_cents=120_000,
        rate_bps=1_790,
        currency="BRL",
        locale=Locale.PT_BR,
    )
    assert changed.notice_id == "acceptance_failed:of_1"
    assert "1.000,00 BRL a 19,90 %" in changed.body and "1.200,00 BRL a 17,90 %" in changed.body
