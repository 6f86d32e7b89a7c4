"""Keyset cursors of the admin lists: what a list issues it takes back; anything else is refused."""

from __future__ import annotations

import base64

import pytest

from cloud.domain.admin.paging import Key, PageCursorInvalid, Shape, decode_cursor, encode_cursor, next_key

CREATED_AND_ID: Shape = (int, str)


@pytest.mark.parametrize(
    ("key", "shape"),
    [
        ((1_700_000_000_000, "usr_a"), CREATED_AND_ID),
        ((0, ""), CREATED_AND_ID),
        ((2**53, "x" * 64), CREATED_AND_ID),
        ((42,), (int,)),
        ((5, "audit", "off_1:7"), (int, str, str)),
        ((-1, "é/ü?&="), CREATED_AND_ID),
    ],
)
def test_a_cursor_gives_back_its_key(key: Key, shape: Shape) -> None:
    cursor = encode_cursor(key)
    assert cursor.isascii() and "=" not in cursor and "/" not in cursor and "+" not in cursor
    assert decode_cursor(cursor, shape) == key


def _raw(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!",
        "a",
        _raw("not json"),
        _raw("{}"),
        _raw('"text"'),
        _raw("[1]"),  # a key of another list (too short)
        _raw('[1, "a", "b"]'),  # too long
        _raw('["1", "usr_a"]'),  # the number as text
        _raw('[1.0, "usr_a"]'),  # a float
        _raw('[true, "usr_a"]'),  # a bool is not an int
        _raw("[1, 2]"),
        _raw("[1, null]"),
        "A" * 600,  # longer than any cursor issued
    ],
)
def test_a_cursor_not_issued_for_the_list_is_refused(cursor: str) -> None:
    with pytest.raises(PageCursorInvalid):
        decode_cursor(cursor, CREATED_AND_ID)


@pytest.mark.parametrize(
    ("keys", "limit", "expected"),
    [
        ([], 10, None),
        ([(3, "c")], 1, None),
        ([(3, "c"), (2, "b")], 1, (3, "c")),
        ([(3, "c"), (2, "b"), (1, "a")], 2, (2, "b")),
        ([(3, "c"), (2, "b")], 2, None),
    ],
)
def test_next_key_is_the_last_shown_row_only_when_one_is_left(
    keys: list[Key], limit: int, expected: Key | None
) -> None:
    assert next_key(keys, limit) == expected
