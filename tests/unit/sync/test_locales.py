"""How a device's locale tag picks the language of what the cloud writes for the user."""

from __future__ import annotations

import pytest

from sync.locales import DEFAULT_LOCALE, Locale, resolve_locale


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        (None, Locale.EN),
        ("", Locale.EN),
        ("en", Locale.EN),
        ("en-GB", Locale.EN),
        ("pt-BR", Locale.PT_BR),
        ("pt_br", Locale.PT_BR),
        ("PT-br", Locale.PT_BR),
        ("pt", Locale.PT_BR),
        ("pt-PT", Locale.PT_BR),
        ("de-DE", Locale.EN),
        ("zz", Locale.EN),
        ("  pt-BR ", Locale.PT_BR),
    ],
)
def test_resolve_locale(tag: str | None, expected: Locale) -> None:
    assert resolve_locale(tag) is expected


def test_the_default_is_english() -> None:
    assert DEFAULT_LOCALE is Locale.EN
