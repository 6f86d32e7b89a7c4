"""The ``apply_offer`` transaction refuses what it cannot apply and then changes nothing (SQLite)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from contextlib import closing
from pathlib import Path

import pytest

from cloud.domain.offers.errors import ProfileMissing
from cloud.domain.offers.rules import OfferNotAccepted
from cloud.domain.sync.digest import mutation_digest
from cloud.store.engines.sqlite import SqliteStore, open_sqlite_store
from cloud.store.records import OfferTerms, ProfileRecord, PushItem, RefreshGrant
from cloud.store.scripts.outbox import OfferVanished, OutboxPayloadInvalid
from sync.messages import AcceptOffer

NOW = 1_700_000_000_000


async def accepted_offer(store: SqliteStore) -> int:
    await store.migrate()
    await store.create_user("usr_1", None, NOW)
    await store.create_enrollment_code("usr_1", "code", NOW + 10_000, NOW)
    await store.enroll_device(
        code_hash="code",
        device_id="dev_1",
        platform="android",
        app_version="1",
        refresh=RefreshGrant(token_hash="rt", expires_at=NOW + 10_000),
        now=NOW,
    )
    profile = ProfileRecord(
        user_id="usr_1", currency="EUR", limit_cents=100_000, used_cents=0, rate_bps=1_990, updated_at=NOW
    )
    await store.set_profile(profile, actor="admin", reason_code="profile_set")
    terms = OfferTerms(
        offer_id="off_1",
        user_id="usr_1",
        new_limit_cents=150_000,
        rate_bps=1_790,
        term_months=12,
        expires_at=NOW + 86_400_000,
        reason_codes=[],
        policy_version="p1",
    )
    await store.create_offer(terms, actor="admin", now=NOW)
    accept = AcceptOffer(seq=1, created_at=NOW, offer_id="off_1")
    outcome = await store.sync(
        device_id="dev_1",
        items=[PushItem(seq=1, mutation=accept, digest=mutation_digest(accept))],
        skew_ms=0,
        after_version=0,
        pull_limit=10,
        now=NOW + 1,
    )
    return outcome.outbox[0].outbox_id


def _state(path: Path) -> tuple[object, ...]:
    with closing(sqlite3.connect(path)) as conn:
        return (
            conn.execute("SELECT version FROM users").fetchall(),
            conn.execute("SELECT outbox_id, state, attempts FROM outbox ORDER BY outbox_id").fetchall(),
            conn.execute("SELECT limit_cents FROM credit_profiles").fetchall(),
            conn.execute("SELECT COUNT(*) FROM offer_audit").fetchone(),
            conn.execute("SELECT COUNT(*) FROM notices").fetchone(),
        )


def _refusal(tmp_path: Path, tamper: str, params: tuple[object, ...], expected: type[Exception]) -> None:
    path = tmp_path / "store.sqlite3"

    async def run(body: Callable[[SqliteStore], Awaitable[None]]) -> None:
        store = await open_sqlite_store(path)
        try:
            await body(store)
        finally:
            await store.close()

    outbox: list[int] = []

    async def seed(store: SqliteStore) -> None:
        outbox.append(await accepted_offer(store))

    asyncio.run(run(seed))
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("PRAGMA foreign_keys = OFF")
        conn.execute(tamper, params)
    before = _state(path)

    async def apply(store: SqliteStore) -> None:
        with pytest.raises(expected):
            await store.apply_offer(outbox[-1], ref="job:x", now=NOW + 5)

    asyncio.run(run(apply))
    assert _state(path) == before


def test_offer_no_longer_accepted_is_refused(tmp_path: Path) -> None:
    _refusal(tmp_path, "UPDATE offers SET status = ?", ("withdrawn",), OfferNotAccepted)


def test_missing_profile_is_refused(tmp_path: Path) -> None:
    _refusal(tmp_path, "DELETE FROM credit_profiles WHERE user_id = ?", ("usr_1",), ProfileMissing)


def test_vanished_offer_is_refused(tmp_path: Path) -> None:
    _refusal(tmp_path, "UPDATE outbox SET payload = ?", (b'{"offer_id": "off_gone"}',), OfferVanished)


def test_payload_without_offer_id_is_refused(tmp_path: Path) -> None:
    _refusal(tmp_path, "UPDATE outbox SET payload = ?", (b"{}",), OutboxPayloadInvalid)


def test_row_of_another_kind_is_refused(tmp_path: Path) -> None:
    _refusal(tmp_path, "UPDATE outbox SET kind = ?", ("send_push",), OutboxPayloadInvalid)


def test_dead_letter_of_a_row_naming_no_offer_only_marks_it_dead(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"

    async def seed() -> None:
        store = await open_sqlite_store(path)
        try:
            await accepted_offer(store)
        finally:
            await store.close()

    asyncio.run(seed())
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("UPDATE outbox SET payload = ?", (b'{"offer_id": "off_gone"}',))

    async def relay() -> list[int]:
        store = await open_sqlite_store(path)
        try:
            return (await store.relay_outbox(now=NOW + 10_000, timeout_ms=1, max_attempts=1)).dead
        finally:
            await store.close()

    assert asyncio.run(relay()) == [1]
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT state, last_error FROM outbox").fetchall() == [
            ("dead", "not done after 1 attempts")
        ]
        assert conn.execute("SELECT status FROM offers").fetchall() == [("accepted",)]
