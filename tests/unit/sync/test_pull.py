"""Table-driven tests of cursors and the pull paging rule."""

from __future__ import annotations

import random

import pytest

from sync.limits import MAX_PULL_LIMIT, PROTOCOL_VERSION
from sync.messages import CHANGE_TYPES
from sync.pull import (
    CHANGE_SINCE_PROTOCOL,
    InvalidCursor,
    change_known_to,
    clamp_pull_limit,
    decode_cursor,
    encode_cursor,
    page_changes,
)

# --- cursors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "cursor"),
    [
        (0, "v1.0"),
        (1, "v1.1"),
        (21, "v1.21"),
        (10**17, "v1.100000000000000000"),
        (2**53, "v1.9007199254740992"),
    ],
)
def test_cursor_round_trip(version: int, cursor: str) -> None:
    assert encode_cursor(version) == cursor
    assert decode_cursor(cursor) == version


def test_null_cursor_means_from_the_beginning() -> None:
    assert decode_cursor(None) == 0


def test_negative_version_has_no_cursor() -> None:
    with pytest.raises(ValueError):
        encode_cursor(-1)


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "v1.",
        "v1",
        "1",
        "21",
        "v2.21",
        "V1.21",
        "v1.-1",
        "v1.+1",
        "v1.1.2",
        "v1. 1",
        "v1.1 ",
        " v1.1",
        "v1.1e3",
        "v1.0x1",
        "v1.²",  # superscript two: str.isdigit() is true, int() refuses it
        "v1.٣",  # Arabic-Indic three: int() would accept it as 3
        "v1.007",  # not canonical
        "v1.00",
        "v1." + "9" * 19,  # beyond 18 digits
        "v1.\n1",
    ],
)
def test_invalid_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor)


def test_invalid_cursor_is_a_value_error() -> None:
    assert issubclass(InvalidCursor, ValueError)


# --- pull limit --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requested", "served"),
    [
        (0, 0),
        (1, 1),
        (200, 200),
        (MAX_PULL_LIMIT - 1, MAX_PULL_LIMIT - 1),
        (MAX_PULL_LIMIT, MAX_PULL_LIMIT),
        (MAX_PULL_LIMIT + 1, MAX_PULL_LIMIT),
        (10**12, MAX_PULL_LIMIT),
    ],
)
def test_clamp_pull_limit(requested: int, served: int) -> None:
    assert clamp_pull_limit(requested) == served


@pytest.mark.parametrize("requested", [-1, -(10**9)])
def test_negative_pull_limit_is_a_caller_defect(requested: int) -> None:
    # The envelope refuses a negative pull_limit (400 invalid_body) before anything is clamped.
    with pytest.raises(ValueError):
        clamp_pull_limit(requested)


def test_the_envelope_refuses_a_negative_pull_limit() -> None:
    from sync.codec import CodecError, MediaType, decode_envelope

    body = b'{"type":"SyncRequest","protocol":1,"device_id":"d","device_time":0,"push":[],"pull_limit":-1}'
    with pytest.raises(CodecError):
        decode_envelope(body, MediaType.JSON)
    assert decode_envelope(body.replace(b"-1", b"0"), MediaType.JSON).pull_limit == 0


# --- paging ------------------------------------------------------------------------

A, B, C, D = "a", "b", "c", "d"

PAGE_CASES = [
    # (after_version, fetched rows, limit, items, new version, has_more)
    pytest.param(0, [], 10, (), 0, False, id="empty-log"),
    pytest.param(5, [], 10, (), 5, False, id="empty-page-keeps-cursor"),
    pytest.param(0, [(1, A), (2, B)], 10, (A, B), 2, False, id="all-fit"),
    pytest.param(0, [(1, A), (2, B)], 2, (A, B), 2, False, id="exactly-limit"),
    pytest.param(0, [(1, A), (2, B), (3, C)], 2, (A, B), 2, True, id="extra-row-means-more"),
    pytest.param(2, [(3, C), (4, D)], 1, (C,), 3, True, id="next-page"),
    pytest.param(2, [(1, A), (2, B), (3, C)], 10, (C,), 3, False, id="replayed-rows-dropped"),
    pytest.param(3, [(1, A), (2, B), (3, C)], 10, (), 3, False, id="replayed-page-changes-nothing"),
    pytest.param(
        0, [(2, A), (7, B), (40, C)], 10, (A, B, C), 40, False, id="versions-need-not-be-contiguous"
    ),
    pytest.param(0, [(1, A)], 0, (), 0, True, id="push-only-reports-more"),
    pytest.param(9, [], 0, (), 9, False, id="push-only-nothing-waiting"),
    pytest.param(4, [(5, A), (9, B)], 1, (A,), 5, True, id="limit-one"),
]


@pytest.mark.parametrize(("after", "fetched", "limit", "items", "version", "has_more"), PAGE_CASES)
def test_page_changes(
    after: int,
    fetched: list[tuple[int, str]],
    limit: int,
    items: tuple[str, ...],
    version: int,
    has_more: bool,
) -> None:
    page = page_changes(after, fetched, limit)
    assert page.items == items
    assert page.version == version
    assert page.has_more is has_more


@pytest.mark.parametrize(
    "fetched",
    [
        [(2, A), (1, B)],
        [(1, A), (1, B)],
        [(1, A), (3, B), (2, C)],
        [(5, A), (6, B), (6, C)],
    ],
)
def test_unordered_rows_are_refused(fetched: list[tuple[int, str]]) -> None:
    with pytest.raises(ValueError):
        page_changes(0, fetched, 10)


@pytest.mark.parametrize("seed", range(20))
def test_paging_through_a_log_yields_every_change_once(seed: int) -> None:
    rng = random.Random(seed)
    versions = sorted(rng.sample(range(1, 500), rng.randint(0, 60)))
    log = [(v, f"change-{v}") for v in versions]
    limit = rng.randint(1, 12)
    cursor, rounds = 0, 0
    seen: list[str] = []
    while True:
        rounds += 1
        fetched = [row for row in log if row[0] > cursor][: limit + 1]
        page = page_changes(cursor, fetched, limit)
        assert page.version >= cursor
        # Replaying the same request returns the same page and never moves the cursor back.
        assert page_changes(cursor, fetched, limit) == page
        seen.extend(page.items)
        cursor = page.version
        if not page.has_more:
            break
        assert rounds <= len(log) + 1
    assert seen == [item for _, item in log]
    assert cursor == (versions[-1] if versions else 0)


# --- protocol filter ---------------------------------------------------------------


@pytest.mark.parametrize("change_type", [t.__name__ for t in CHANGE_TYPES])
def test_every_change_type_is_known_to_v1(change_type: str) -> None:
    assert change_type in CHANGE_SINCE_PROTOCOL
    assert change_known_to(change_type, PROTOCOL_VERSION)
    assert change_known_to(change_type)
    assert not change_known_to(change_type, 0)


@pytest.mark.parametrize("change_type", ["Nope", "", "offerupsert", "SyncReply", "SubmitAggregate"])
def test_unknown_change_types_are_known_to_no_protocol(change_type: str) -> None:
    assert not change_known_to(change_type, PROTOCOL_VERSION)
    assert not change_known_to(change_type, 99)


def test_a_change_from_a_later_protocol_is_withheld_from_older_clients(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(CHANGE_SINCE_PROTOCOL, "FutureChange", 2)
    assert not change_known_to("FutureChange", 1)
    assert change_known_to("FutureChange", 2)
    assert change_known_to("FutureChange", 3)


EPOCH = "3f9a0c1e"


@pytest.mark.parametrize("version", [0, 1, 21, 10**17])
def test_a_cursor_after_a_restore_carries_the_epoch(version: int) -> None:
    cursor = encode_cursor(version, EPOCH)
    assert cursor == f"v2.{EPOCH}.{version}"
    assert decode_cursor(cursor, EPOCH) == version


@pytest.mark.parametrize(
    ("cursor", "epoch"),
    [
        ("v1.5", EPOCH),  # issued before the restore
        (f"v2.{EPOCH}.5", "0"),  # another store's, or a restore this one never had
        (f"v2.{EPOCH}.5", "0123abcd"),  # an earlier restore's
        (f"v2.{EPOCH}.05", EPOCH),
        (f"v2.{EPOCH}.", EPOCH),
        (f"v2.{EPOCH}", EPOCH),
        ("v2.XYZ12345.5", "XYZ12345"),
        (f"v2.{EPOCH}.5.6", EPOCH),
    ],
)
def test_a_cursor_of_another_epoch_or_shape_is_invalid(cursor: str, epoch: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor, epoch)


@pytest.mark.parametrize("epoch", ["", "abc", "ABCDEF12", "0123456789abcdef0123456789abcdef0"])
def test_an_epoch_a_restore_cannot_start_is_refused(epoch: str) -> None:
    with pytest.raises(ValueError):
        encode_cursor(1, epoch)
