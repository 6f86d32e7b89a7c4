"""The languages the cloud writes what a user reads in (offer reasons, notices), and how a device's
locale tag picks one (spec §5.8).

A device sends its locale as a BCP 47 tag (``pt-BR``, ``en-GB``, ``pt``). The exact tag wins if it
is supported, then any supported locale of the same language, then :data:`DEFAULT_LOCALE`. Pure:
the cloud and the SDK read the same rule.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class Locale(StrEnum):
    EN = "en"
    PT_BR = "pt-BR"


DEFAULT_LOCALE: Final = Locale.EN
LOCALE_TAG_PATTERN: Final = r"^[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8}){0,4}$"
"""What a device may send as its locale: a BCP 47 language tag (``_`` accepted for ``-``)."""
MAX_LOCALE_TAG_CHARS: Final = 35

_BY_TAG: Final = {locale.value.lower(): locale for locale in Locale}
_BY_LANGUAGE: Final = {locale.value.split("-")[0].lower(): locale for locale in Locale}


def resolve_locale(tag: str | None) -> Locale:
    """The supported locale for a device's tag (``_`` is read as ``-``, case does not matter)."""
    if not tag:
        return DEFAULT_LOCALE
    normal = tag.strip().replace("_", "-").lower()
    exact = _BY_TAG.get(normal)
    if exact is not None:
        return exact
    return _BY_LANGUAGE.get(normal.split("-")[0], DEFAULT_LOCALE)
