"""Local store: migrations, WAL, atomic(), seq allocation, outbox batching."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import msgspec
import pytest

from edge_sdk.errors import InvalidMutation, StoreError
from edge_sdk.store import open_store
from edge_sdk.store.migrations import KNOWN_MIGRATIONS
from sync.codec import decode_mutation, encode_mutation
from sync.messages import AckNotice, RegisterPushToken, SubmitAggregate, TokenPair
from tests.unit.edge_sdk.conftest import aggregate


def ack(seq: int, notice: str = "n1") -> AckNotice:
    return AckNotice(seq=seq, created_at=1, notice_id=notice)


def test_open_applies_migrations_and_wal(db_path: Path) -> None:
    store = open_store(db_path)
    assert store.applied_migrations() == list(KNOWN_MIGRATIONS)
    assert store.journal_mode() == "wal"
    tables = set(store.db.table_names())
    for table in (
        "outbox",
        "mirror_offers",
        "mirror_profile",
        "mirror_notices",
        "mirror_consent",
        "sync_state",
        "credentials",
    ):
        assert table in tables
    store.close()
    again = open_store(db_path)
    assert again.applied_migrations() == list(KNOWN_MIGRATIONS)
    assert again.state().highest_seq_allocated == 0
    again.close()


def test_store_from_newer_sdk_refused(db_path: Path) -> None:
    open_store(db_path).close()
    conn = sqlite3.connect(db_path)
    conn.execute(
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
        "VALUES ('edge_sdk', '9999_future', 'x')"
    )
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="9999_future"):
        open_store(db_path)


def test_file_that_is_not_a_database_refused(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError):
        open_store(path)


def test_atomic_rolls_back_every_step_on_error(db_path: Path) -> None:
    store = open_store(db_path)
    with pytest.raises(RuntimeError), store.atomic() as db:
        db.execute("INSERT INTO outbox (seq, type, mutation, created_at) VALUES (1, 't', x'00', 1)")
        db.execute("UPDATE sync_state SET highest_seq_allocated = 1")
        raise RuntimeError("boom")
    assert store.pending_count() == 0
    assert store.state().highest_seq_allocated == 0
    store.close()


def test_atomic_nested_block_uses_savepoint(db_path: Path) -> None:
    store = open_store(db_path)
    with store.atomic() as db:
        db.execute("UPDATE sync_state SET skew_ms = 5")
        with pytest.raises(RuntimeError), store.atomic() as inner:
            inner.execute("UPDATE sync_state SET skew_ms = 9")
            raise RuntimeError("inner")
    assert store.state().skew_ms == 5
    store.close()


def test_atomic_takes_the_write_lock_up_front(db_path: Path) -> None:
    store = open_store(db_path)
    other = sqlite3.connect(db_path, timeout=0, isolation_level=None)
    # BEGIN IMMEDIATE: another writer cannot even start while the block runs.
    with store.atomic(), pytest.raises(sqlite3.OperationalError, match="locked"):
        other.execute("BEGIN IMMEDIATE")
    other.execute("BEGIN IMMEDIATE")
    other.execute("ROLLBACK")
    other.close()
    store.close()


def test_seq_allocation_is_sequential_and_survives_reopen(db_path: Path) -> None:
    store = open_store(db_path)
    seqs = [store.enqueue(lambda seq: ack(seq)).seq for _ in range(3)]
    assert seqs == [1, 2, 3]
    store.close()
    store = open_store(db_path)
    assert store.enqueue(lambda seq: ack(seq)).seq == 4
    rows = store.outbox_batch(0, 10, 10_000)
    assert [r.seq for r in rows] == [1, 2, 3, 4]
    assert all(r.type == "AckNotice" for r in rows)
    # Stored bytes are exactly the protocol's msgpack encoding of the mutation.
    assert rows[0].mutation == encode_mutation(ack(1))
    assert decode_mutation(rows[3].mutation) == ack(4)
    store.close()


def test_invalid_mutation_allocates_no_seq(db_path: Path) -> None:
    store = open_store(db_path)
    store.enqueue(lambda seq: ack(seq))
    with pytest.raises(InvalidMutation):
        store.enqueue(lambda seq: AckNotice(seq=seq, created_at=1, notice_id=""))
    assert store.state().highest_seq_allocated == 1
    assert store.pending_count() == 1
    assert store.enqueue(lambda seq: ack(seq)).seq == 2
    store.close()


def test_outbox_batch_respects_count_and_bytes(db_path: Path) -> None:
    store = open_store(db_path)
    for _ in range(5):
        store.enqueue(lambda seq: RegisterPushToken(seq=seq, created_at=1, token="t" * 1000, platform="ios"))
    size = len(store.outbox_batch(0, 1, 10_000)[0].mutation)
    assert [r.seq for r in store.outbox_batch(0, 3, 10_000)] == [1, 2, 3]
    assert [r.seq for r in store.outbox_batch(2, 10, size * 2)] == [2, 3]
    # A single row larger than the budget still goes alone rather than never.
    assert [r.seq for r in store.outbox_batch(0, 10, 10)] == [1]
    store.close()


def test_reenroll_renumbers_pending_from_one(db_path: Path) -> None:
    store = open_store(db_path)
    for _ in range(4):
        store.enqueue(lambda seq: ack(seq, f"n{seq}"))
    with store.atomic() as db:
        db.execute("DELETE FROM outbox WHERE seq <= 2")
    pair = TokenPair(
        device_id="d2",
        user_id="u",
        access_token="a",
        access_expires_at=1,
        refresh_token="r",
        refresh_expires_at=2,
    )
    assert store.reenroll(pair, "http://x") == 2
    rows = store.outbox_batch(0, 10, 10_000)
    assert [r.seq for r in rows] == [1, 2]
    assert [decode_mutation(r.mutation) for r in rows] == [ack(1, "n3"), ack(2, "n4")]
    state = store.state()
    assert (state.device_id, state.highest_seq_allocated, state.last_seq_acked, state.cursor) == (
        "d2",
        2,
        0,
        None,
    )
    store.close()


def test_replacement_is_recorded_until_the_new_identity_is_stored(db_path: Path) -> None:
    store = open_store(db_path)
    assert store.begin_replacement() is None  # no identity yet: nothing to replace
    pair = TokenPair(
        device_id="d1",
        user_id="u",
        access_token="a",
        access_expires_at=1,
        refresh_token="r",
        refresh_expires_at=2,
    )
    store.set_enrollment(pair, "http://x")
    assert store.begin_replacement() == "d1"
    store.close()
    store = open_store(db_path)  # survives a restart
    assert store.state().replacing_device_id == "d1"
    assert store.begin_replacement() == "d1"  # a second attempt replaces the same identity
    store.reenroll(msgspec.structs.replace(pair, device_id="d2"), "http://x")
    state = store.state()
    assert (state.device_id, state.replacing_device_id) == ("d2", None)
    store.close()


def test_calendar_impossible_day_refused(db_path: Path) -> None:
    store = open_store(db_path)
    with pytest.raises(InvalidMutation):
        store.enqueue(lambda seq: SubmitAggregate(seq=seq, created_at=1, **aggregate("2024-02-30")))
    assert store.pending_count() == 0
    # The leap day itself is fine.
    store.enqueue(lambda seq: SubmitAggregate(seq=seq, created_at=1, **aggregate("2024-02-29")))
    assert store.pending_count() == 1
    store.close()
