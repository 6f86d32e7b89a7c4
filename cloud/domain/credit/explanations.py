"""An offer's reasons in plain language (LGPD art. 20, GDPR art. 22): one sentence per reason code
the scorecard and the guardrail give, in every supported locale.

Pure and written once: the offer's ``reasons`` are rendered from its ``reason_codes`` in the user's
locale when the offer is made, and kept as the user was shown them. A code without a sentence (a
lender's own code on an offer made through the admin API) is left out of the text; the code stays
in ``reason_codes``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from sync.locales import Locale

EN, PT = Locale.EN, Locale.PT_BR

REASONS: Final[dict[str, dict[Locale, str]]] = {
    # Months on book.
    "MOB_LT_6": {
        EN: "You have been a customer for less than 6 months.",
        PT: "Você é cliente há menos de 6 meses.",
    },
    "MOB_6_11": {EN: "You have been a customer for 6 to 11 months.", PT: "Você é cliente há 6 a 11 meses."},
    "MOB_12_23": {EN: "You have been a customer for 1 to 2 years.", PT: "Você é cliente há 1 a 2 anos."},
    "MOB_24_59": {EN: "You have been a customer for 2 to 5 years.", PT: "Você é cliente há 2 a 5 anos."},
    "MOB_GE_60": {
        EN: "You have been a customer for 5 years or more.",
        PT: "Você é cliente há 5 anos ou mais.",
    },
    # Utilisation of the current limit.
    "UTIL_LE_30": {EN: "You use 30% or less of your limit.", PT: "Você usa 30% ou menos do seu limite."},
    "UTIL_31_50": {EN: "You use 31% to 50% of your limit.", PT: "Você usa de 31% a 50% do seu limite."},
    "UTIL_51_75": {EN: "You use 51% to 75% of your limit.", PT: "Você usa de 51% a 75% do seu limite."},
    "UTIL_76_90": {EN: "You use 76% to 90% of your limit.", PT: "Você usa de 76% a 90% do seu limite."},
    "UTIL_GT_90": {EN: "You use more than 90% of your limit.", PT: "Você usa mais de 90% do seu limite."},
    # Payments in the last 12 months.
    "ONTIME_0_2": {
        EN: "You made up to 2 payments on time in the last 12 months.",
        PT: "Você fez até 2 pagamentos em dia nos últimos 12 meses.",
    },
    "ONTIME_3_5": {
        EN: "You made 3 to 5 payments on time in the last 12 months.",
        PT: "Você fez de 3 a 5 pagamentos em dia nos últimos 12 meses.",
    },
    "ONTIME_6_8": {
        EN: "You made 6 to 8 payments on time in the last 12 months.",
        PT: "Você fez de 6 a 8 pagamentos em dia nos últimos 12 meses.",
    },
    "ONTIME_9_11": {
        EN: "You made 9 to 11 payments on time in the last 12 months.",
        PT: "Você fez de 9 a 11 pagamentos em dia nos últimos 12 meses.",
    },
    "ONTIME_12": {
        EN: "You made all 12 payments on time in the last 12 months.",
        PT: "Você fez os 12 pagamentos em dia nos últimos 12 meses.",
    },
    "MISSED_0": {
        EN: "You missed no payment in the last 12 months.",
        PT: "Você não atrasou nenhum pagamento nos últimos 12 meses.",
    },
    "MISSED_1": {
        EN: "You missed 1 payment in the last 12 months.",
        PT: "Você atrasou 1 pagamento nos últimos 12 meses.",
    },
    "MISSED_2": {
        EN: "You missed 2 payments in the last 12 months.",
        PT: "Você atrasou 2 pagamentos nos últimos 12 meses.",
    },
    "MISSED_GE_3": {
        EN: "You missed 3 or more payments in the last 12 months.",
        PT: "Você atrasou 3 ou mais pagamentos nos últimos 12 meses.",
    },
    # Declared income.
    "INCOME_LOW": {
        EN: "Your declared income is in our lowest band.",
        PT: "Sua renda declarada está na nossa faixa mais baixa.",
    },
    "INCOME_MEDIUM": {
        EN: "Your declared income is in our middle band.",
        PT: "Sua renda declarada está na nossa faixa média.",
    },
    "INCOME_HIGH": {
        EN: "Your declared income is in our high band.",
        PT: "Sua renda declarada está na nossa faixa alta.",
    },
    "INCOME_VERY_HIGH": {
        EN: "Your declared income is in our highest band.",
        PT: "Sua renda declarada está na nossa faixa mais alta.",
    },
    # The risk band these add up to.
    "RISK_BAND_A": {
        EN: "Together, these put you in our lowest risk band (A).",
        PT: "Com isso, você está na nossa faixa de menor risco (A).",
    },
    "RISK_BAND_B": {
        EN: "Together, these put you in a low risk band (B).",
        PT: "Com isso, você está em uma faixa de risco baixo (B).",
    },
    "RISK_BAND_C": {
        EN: "Together, these put you in a medium risk band (C).",
        PT: "Com isso, você está em uma faixa de risco médio (C).",
    },
    "RISK_BAND_D": {
        EN: "Together, these put you in a higher risk band (D).",
        PT: "Com isso, você está em uma faixa de risco mais alto (D).",
    },
    "RISK_BAND_E": {
        EN: "Together, these put you in our highest risk band (E).",
        PT: "Com isso, você está na nossa faixa de maior risco (E).",
    },
    # The offer's rules.
    "NO_OFFER_RISK_BAND": {
        EN: "Your risk band does not allow an increase now.",
        PT: "Sua faixa de risco não permite um aumento agora.",
    },
    "NO_OFFER_AT_MAX_LIMIT": {
        EN: "Your limit is already the most we offer.",
        PT: "Seu limite já é o máximo que oferecemos.",
    },
    "NO_OFFER_INCREASE_TOO_SMALL": {
        EN: "The increase would have been too small to offer.",
        PT: "O aumento seria pequeno demais para ser oferecido.",
    },
    "INCREASE_CAPPED_ABSOLUTE": {
        EN: "The increase is capped at the most we raise a limit at once.",
        PT: "O aumento foi limitado ao máximo que concedemos de uma vez.",
    },
    "INCREASE_CAPPED_MAX_LIMIT": {
        EN: "The increase is capped so that your limit stays within our maximum.",
        PT: "O aumento foi limitado para que seu limite fique dentro do nosso máximo.",
    },
    "RATE_KEPT_AT_CURRENT": {
        EN: "Your current rate is lower than this band's, so you keep it.",
        PT: "Sua taxa atual é menor que a desta faixa, então você a mantém.",
    },
    # The empathic guardrail: it may only make an offer gentler, never pricier.
    "GUARDRAIL_NO_OFFER": {
        EN: "There was no offer for the wellbeing check to review.",
        PT: "Não havia oferta para a verificação de bem-estar revisar.",
    },
    "GUARDRAIL_NO_SIGNAL": {
        EN: "No wellbeing signal from your use of the app was available, so it played no part.",
        PT: "Nenhum sinal de bem-estar do seu uso do app estava disponível, então ele não influenciou.",
    },
    "GUARDRAIL_TOO_FEW_DAYS": {
        EN: "There were too few days of wellbeing signal to take it into account.",
        PT: "Havia poucos dias de sinal de bem-estar para levá-lo em conta.",
    },
    "GUARDRAIL_INTERVAL_TOO_WIDE": {
        EN: "The wellbeing signal was too uncertain to take into account.",
        PT: "O sinal de bem-estar era incerto demais para ser levado em conta.",
    },
    "GUARDRAIL_BELOW_THRESHOLD": {
        EN: "Your recent use of the app showed no sign of stress that would change this offer.",
        PT: "Seu uso recente do app não mostrou sinal de estresse que mudasse esta oferta.",
    },
    "GUARDRAIL_INCREASE_LOWERED": {
        EN: "Your recent use of the app suggested a stressful time, so we offer a smaller increase. "
        "This check can never make an offer more expensive.",
        PT: "Seu uso recente do app sugeriu um momento de estresse, então oferecemos um aumento menor. "
        "Esta verificação nunca torna uma oferta mais cara.",
    },
    "GUARDRAIL_OFFER_WITHHELD": {
        EN: "Your recent use of the app suggested a stressful time, so we held back an offer for now.",
        PT: "Seu uso recente do app sugeriu um momento de estresse, então não fizemos uma oferta por "
        "enquanto.",
    },
    "GUARDRAIL_PROMO_DEFERRED": {
        EN: "We waited for a calmer moment to tell you about this offer.",
        PT: "Esperamos um momento mais tranquilo para avisar você sobre esta oferta.",
    },
}
"""The sentence of each reason code, per locale."""


def explain(codes: Sequence[str], locale: Locale) -> list[str]:
    """The sentences of ``codes`` in ``locale``, in the codes' order; codes without one are left out."""
    return [REASONS[code][locale] for code in codes if code in REASONS]
