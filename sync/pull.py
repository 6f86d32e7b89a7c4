"""Cursor encoding and the pull paging rule, as pure functions.

A cursor is the user's change-log version the device has applied, in the server's current store
epoch, encoded as an opaque string. Versions come from a per-user counter incremented inside the
writing transaction, so they commit in order and a device never skips a change. A restore from a
backup starts a new epoch (spec §5.5): the versions after it may repeat ones a device pulled before,
so a cursor of another epoch is refused and the device pulls again from the start.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from typing import Final, Generic, TypeVar

import msgspec

from sync.limits import MAX_PULL_LIMIT, PROTOCOL_VERSION

INITIAL_EPOCH: Final = "0"
"""The epoch of a store never restored from a backup; its cursors keep the first format."""
EPOCH_PATTERN: Final = re.compile(r"^[0-9a-f]{8,32}$")
"""An epoch a restore starts: random lowercase hex."""

_PREFIX: Final = "v1."
_EPOCH_PREFIX: Final = "v2."


class InvalidCursor(ValueError):
    """A cursor string this server did not issue, or issued in another store epoch."""


def encode_cursor(version: int, epoch: str = INITIAL_EPOCH) -> str:
    """Opaque cursor for a change-log version (``0`` = nothing applied yet) in ``epoch``:
    ``v1.<version>`` in the initial epoch, ``v2.<epoch>.<version>`` after a restore."""
    if version < 0:
        raise ValueError("version must be >= 0")
    if epoch == INITIAL_EPOCH:
        return f"{_PREFIX}{version}"
    if not EPOCH_PATTERN.match(epoch):
        raise ValueError(f"not an epoch: {epoch!r}")
    return f"{_EPOCH_PREFIX}{epoch}.{version}"


def _version(digits: str, cursor: str) -> int:
    # ASCII only: str.isdigit() also admits digits such as "²" that int() refuses. Only the
    # canonical form encode_cursor() emits is accepted (no sign, no leading zeros).
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 18:
        raise InvalidCursor(cursor)
    if len(digits) > 1 and digits[0] == "0":
        raise InvalidCursor(cursor)
    return int(digits)


def decode_cursor(cursor: str | None, epoch: str = INITIAL_EPOCH) -> int:
    """Version a cursor stands for; ``None`` means from the beginning. A cursor of another epoch
    than ``epoch`` (the store's) is :class:`InvalidCursor`, as is one this server never issued."""
    if cursor is None:
        return 0
    if cursor.startswith(_PREFIX):
        if epoch != INITIAL_EPOCH:
            raise InvalidCursor(cursor)
        return _version(cursor[len(_PREFIX) :], cursor)
    if cursor.startswith(_EPOCH_PREFIX):
        issued, _, digits = cursor[len(_EPOCH_PREFIX) :].partition(".")
        if issued != epoch or not EPOCH_PATTERN.match(issued):
            raise InvalidCursor(cursor)
        return _version(digits, cursor)
    raise InvalidCursor(cursor)


def clamp_pull_limit(requested: int) -> int:
    """Requested page size capped at ``MAX_PULL_LIMIT``; ``0`` means push-only.

    A negative ``pull_limit`` never gets here: the request's envelope refuses it (``ge=0``), so
    the server answers ``400 invalid_body`` as the spec says; calling this with one is a defect.
    """
    if requested < 0:
        raise ValueError("pull_limit must be >= 0")
    return min(requested, MAX_PULL_LIMIT)


T = TypeVar("T")


class Page(msgspec.Struct, Generic[T], frozen=True):
    items: tuple[T, ...]
    version: int
    """Version the new cursor stands for."""
    has_more: bool


def page_changes(after_version: int, fetched: Sequence[tuple[int, T]], limit: int) -> Page[T]:
    """Cut one page from ``fetched``: the (version, item) rows with version > ``after_version``.

    The store fetches ``limit + 1`` rows in ascending version order; the extra row only tells
    whether more remain. The new cursor is the last version on the page, or the old one when
    the page is empty, so a replayed page never moves the cursor backwards.
    """
    rows = [r for r in fetched if r[0] > after_version]
    for (a, _), (b, _) in itertools.pairwise(rows):
        if b <= a:
            raise ValueError("changes must be in strictly ascending version order")
    page = rows[:limit]
    version = page[-1][0] if page else after_version
    return Page(tuple(item for _, item in page), version, len(rows) > limit)


CHANGE_SINCE_PROTOCOL: Final[dict[str, int]] = {
    "OfferUpsert": 1,
    "OfferRemoved": 1,
    "ProfileUpdate": 1,
    "Notice": 1,
    "ConsentState": 1,
    "ModelRelease": 2,
    "Wipe": 1,
}
"""First protocol version that knows each change type; the server sends a client only what it knows."""


def change_known_to(change_type: str, protocol: int = PROTOCOL_VERSION) -> bool:
    since = CHANGE_SINCE_PROTOCOL.get(change_type)
    return since is not None and since <= protocol
