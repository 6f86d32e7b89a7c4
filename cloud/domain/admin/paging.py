"""Keyset paging of the admin lists: a page is the rows after a key, newest first.

A list is ordered by a key of columns (``(created_at, user_id)``, say) descending; a page of
``limit`` rows ends at the key of its last row, and the next page is the rows whose key is below it.
Unlike an offset, a key stays right while rows are added: nothing is skipped or shown twice.

The key travels as an opaque cursor, the key's values as JSON in URL-safe base64. A cursor is
checked against the list's key shape (how many values, which types), so a cursor of another list,
or one edited by hand, is ``invalid_cursor`` instead of a query on wrong values. Pure: no I/O.
"""

from __future__ import annotations

import base64
import binascii
from typing import Final

import msgspec

from cloud.domain_errors import DomainError

Key = tuple[int | str, ...]
"""A row's position in its list: the values of the list's order columns."""
Shape = tuple[type[int] | type[str], ...]
"""The types of a list's key, in order."""

MAX_PAGE: Final = 500
DEFAULT_PAGE: Final = 100
_MAX_CURSOR: Final = 512


class PageCursorInvalid(DomainError):
    """The cursor was not issued for this list (answered ``400 invalid_cursor``)."""


def encode_cursor(key: Key) -> str:
    """The cursor that pages on after the row at ``key``."""
    return base64.urlsafe_b64encode(msgspec.json.encode(list(key))).decode().rstrip("=")


def decode_cursor(cursor: str, shape: Shape) -> Key:
    """The key ``cursor`` carries; :class:`PageCursorInvalid` unless it has ``shape``."""
    if len(cursor) > _MAX_CURSOR:
        raise PageCursorInvalid("cursor too long")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = msgspec.json.decode(raw)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise PageCursorInvalid("cursor is not one this list issued") from None
    if not isinstance(values, list) or len(values) != len(shape):
        raise PageCursorInvalid("cursor is not one this list issued")
    for value, kind in zip(values, shape, strict=True):
        # bool is an int to Python; a key never holds one.
        if type(value) is not kind:
            raise PageCursorInvalid("cursor is not one this list issued")
    return tuple(values)


def next_key(keys: list[Key], limit: int) -> Key | None:
    """The key to page on after a query for ``limit + 1`` rows returned ``keys``: the last shown
    row's, or ``None`` when no row is left."""
    return keys[limit - 1] if len(keys) > limit else None
