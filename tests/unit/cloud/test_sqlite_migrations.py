"""The SQLite store's registered migrations carry data written under an older schema forward."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from cloud.store.engines.sqlite import _split_statements, open_sqlite_store
from cloud.store.migrations import MIGRATIONS


def _database_before(path: Path, first_new: str) -> sqlite3.Connection:
    """A store file as a build that knew only the migrations before ``first_new`` left it; the
    connection is the caller's to fill with old rows and close."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    for migration in [m for m in MIGRATIONS if m.name < first_new]:
        for statement in _split_statements(migration.sql):
            conn.execute(statement)
        conn.execute("INSERT INTO schema_migrations VALUES (?, datetime('now'))", (migration.name,))
    return conn


def _migrate(path: Path) -> list[str]:
    """Open the store on ``path`` as the current build does; the migrations it applied."""

    async def run() -> list[str]:
        store = await open_sqlite_store(path)
        try:
            return await store.migrate()
        finally:
            await store.close()

    return asyncio.run(run())


def _database_at_first_migration(path: Path) -> None:
    """A store file as a build that knew only ``0001_initial`` left it, with one aggregate of a user
    who granted ``share_aggregates`` first (what the cloud needs to hold it)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    for statement in _split_statements(MIGRATIONS[0].sql):
        conn.execute(statement)
    conn.execute("INSERT INTO schema_migrations VALUES ('0001_initial', datetime('now'))")
    conn.execute("INSERT INTO users (user_id, version, created_at) VALUES ('usr_1', 0, 1)")
    conn.execute(
        "INSERT INTO devices (device_id, user_id, platform, created_at, last_seen_at)"
        " VALUES ('dev_1', 'usr_1', 'ios', 1, 1)"
    )
    conn.execute(
        "INSERT INTO consent (user_id, scope, granted, device_id, updated_at)"
        " VALUES ('usr_1', 'share_aggregates', 1, 'dev_1', 1)"
    )
    conn.execute(
        "INSERT INTO aggregates (device_id, user_id, seq, day, tz_offset_min, window_bucket, levels,"
        " mechanism, model_version, created_at, received_at, body)"
        " VALUES ('dev_1', 'usr_1', 1, '2024-01-01', 0, 1, '{}', '{}', 'm1', 1, 2, x'00')"
    )
    conn.close()


def test_lineage_migration_keeps_devices_and_aggregates(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    _database_at_first_migration(path)

    async def migrate() -> None:
        store = await open_sqlite_store(path)
        try:
            assert await store.migrate() == [m.name for m in MIGRATIONS[1:]]
            device = await store.get_device("dev_1")
            assert device is not None and device.lineage_id == "dev_1"
            [aggregate] = (await store.user_view("usr_1")).aggregates
            assert (aggregate.device_id, aggregate.lineage_id, aggregate.day) == (
                "dev_1",
                "dev_1",
                "2024-01-01",
            )
        finally:
            await store.close()

    asyncio.run(migrate())
    conn = sqlite3.connect(path)
    try:
        indexes = {r[1] for r in conn.execute("PRAGMA index_list(aggregates)")}
        assert "aggregates_user" in indexes
        unique = [r[1] for r in conn.execute("PRAGMA index_list(aggregates)") if r[2] == 1]
        columns = [[c[2] for c in conn.execute(f"PRAGMA index_info({name})")] for name in unique]
        assert columns == [["lineage_id", "day"]]
    finally:
        conn.close()


def test_seqs_processed_before_digests_stay_plain_duplicates(tmp_path: Path) -> None:
    # A device that pushed seq 1 under a build without digests: seq 1 has no digest to compare,
    # so a resend is a duplicate whatever its content, as before.
    from cloud.domain.sync.digest import mutation_digest
    from cloud.store.records import PushItem
    from sync.messages import ConsentScope, SetConsent

    path = tmp_path / "old.sqlite3"
    _database_at_first_migration(path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("UPDATE devices SET last_seq = 1")
    conn.close()

    async def run() -> None:
        store = await open_sqlite_store(path)
        try:
            await store.migrate()
            pushed = [
                SetConsent(seq=seq, created_at=5, scope=ConsentScope.PUSH, granted=True) for seq in (1, 2)
            ]
            items = [PushItem(seq=m.seq, mutation=m, digest=mutation_digest(m)) for m in pushed]
            outcome = await store.sync(
                device_id="dev_1", items=items, skew_ms=0, after_version=0, pull_limit=10, now=10
            )
            assert [(r.seq, r.status) for r in outcome.results] == [(1, "duplicate"), (2, "applied")]
        finally:
            await store.close()

    asyncio.run(run())


def test_token_owner_migration_keeps_only_the_latest_registration_of_a_token(tmp_path: Path) -> None:
    """Before 0008 one FCM token could be active on two devices; the latest registration keeps it."""
    path = tmp_path / "old.sqlite3"
    conn = _database_before(path, "0008")
    for user, device, token, at in (
        ("usr_a", "dev_a", "shared", 10),
        ("usr_b", "dev_b", "shared", 20),
        ("usr_c", "dev_c", "own", 5),
    ):
        conn.execute("INSERT INTO users (user_id, version, created_at) VALUES (?, 0, 1)", (user,))
        conn.execute(
            "INSERT INTO devices (device_id, user_id, platform, created_at, last_seen_at, lineage_id)"
            " VALUES (?, ?, 'android', 1, 1, ?)",
            (device, user, device),
        )
        conn.execute(
            "INSERT INTO push_tokens (device_id, token, platform, active, updated_at)"
            " VALUES (?, ?, 'android', 1, ?)",
            (device, token, at),
        )
    conn.close()

    assert _migrate(path) == [m.name for m in MIGRATIONS if m.name >= "0008"]
    conn = sqlite3.connect(path)
    try:
        active = dict(conn.execute("SELECT device_id, active FROM push_tokens").fetchall())
    finally:
        conn.close()
    assert active == {"dev_a": 0, "dev_b": 1, "dev_c": 1}


def test_recorded_grant_migration_keeps_only_the_aggregates_of_users_who_granted(tmp_path: Path) -> None:
    """Before 0010 only a revoke refused aggregates: those of users who never granted
    ``share_aggregates`` go; consent rows get ``changed_at`` from when they were recorded."""
    path = tmp_path / "old.sqlite3"
    conn = _database_before(path, "0010")
    consent = {
        "usr_granted": [("share_aggregates", 1, 30)],
        "usr_revoked": [("share_aggregates", 0, 40)],
        "usr_other_scope": [("inference", 1, 50)],
        "usr_never": [],
    }
    for user, scopes in consent.items():
        device = f"dev_{user}"
        conn.execute("INSERT INTO users (user_id, version, created_at) VALUES (?, 0, 1)", (user,))
        conn.execute(
            "INSERT INTO devices (device_id, user_id, platform, created_at, last_seen_at, lineage_id)"
            " VALUES (?, ?, 'android', 1, 1, ?)",
            (device, user, device),
        )
        for scope, granted, at in scopes:
            conn.execute(
                "INSERT INTO consent (user_id, scope, granted, device_id, updated_at) VALUES (?, ?, ?, ?, ?)",
                (user, scope, granted, device, at),
            )
        for seq, day in ((1, "2024-01-01"), (2, "2024-01-02")):
            conn.execute(
                "INSERT INTO aggregates (device_id, lineage_id, user_id, seq, day, tz_offset_min,"
                " window_bucket, levels, mechanism, model_version, created_at, received_at, body)"
                " VALUES (?, ?, ?, ?, ?, 0, 1, '{}', '{}', 'm1', 1, 2, x'00')",
                (device, device, user, seq, day),
            )
    conn.close()

    assert _migrate(path) == [m.name for m in MIGRATIONS if m.name >= "0010"]
    conn = sqlite3.connect(path)
    try:
        held = conn.execute("SELECT user_id, COUNT(*) FROM aggregates GROUP BY user_id").fetchall()
        changed = conn.execute("SELECT user_id, scope, changed_at FROM consent ORDER BY user_id").fetchall()
    finally:
        conn.close()
    assert held == [("usr_granted", 2)]
    assert changed == [
        ("usr_granted", "share_aggregates", 30),
        ("usr_other_scope", "inference", 50),
        ("usr_revoked", "share_aggregates", 40),
    ]


def test_aggregate_counts_migration_counts_what_is_stored(tmp_path: Path) -> None:
    """0013 fills the daily counts from the aggregates already stored, and drops the day index."""
    path = tmp_path / "old.sqlite3"
    conn = _database_before(path, "0013")
    conn.execute("INSERT INTO users (user_id, version, created_at) VALUES ('usr_1', 0, 1)")
    rows = [("dev_a", "2024-01-01", '{"stress":1}'), ("dev_b", "2024-01-01", '{"stress":1}'),
            ("dev_a", "2024-01-02", '{"stress":1}'), ("dev_b", "2024-01-02", '{"stress":2}')]  # fmt: skip
    for device in ("dev_a", "dev_b"):
        conn.execute(
            "INSERT INTO devices (device_id, user_id, platform, created_at, last_seen_at, lineage_id)"
            " VALUES (?, 'usr_1', 'android', 1, 1, ?)",
            (device, device),
        )
    for seq, (device, day, levels) in enumerate(rows, start=1):
        conn.execute(
            "INSERT INTO aggregates (device_id, lineage_id, user_id, seq, day, tz_offset_min,"
            " window_bucket, levels, mechanism, model_version, created_at, received_at, body)"
            " VALUES (?, ?, 'usr_1', ?, ?, 0, 1, ?, '{\"name\":\"k_rr\"}', 'm1', 1, 2, x'00')",
            (device, device, seq, day, levels),
        )
    conn.close()

    assert _migrate(path) == [m.name for m in MIGRATIONS if m.name >= "0013"]
    conn = sqlite3.connect(path)
    try:
        query = "SELECT day, levels, count FROM aggregate_counts ORDER BY day, levels"
        counts = conn.execute(query).fetchall()
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    finally:
        conn.close()
    assert counts == [
        ("2024-01-01", '{"stress":1}', 2),
        ("2024-01-02", '{"stress":1}', 1),
        ("2024-01-02", '{"stress":2}', 1),
    ]
    assert "aggregates_day" not in indexes


def test_aggregate_model_counts_migration_counts_what_is_stored(tmp_path: Path) -> None:
    """0022 fills the counts per model version from the aggregates already stored."""
    path = tmp_path / "old.sqlite3"
    conn = _database_before(path, "0022")
    conn.execute("INSERT INTO users (user_id, version, created_at) VALUES ('usr_1', 0, 1)")
    for device in ("dev_a", "dev_b"):
        conn.execute(
            "INSERT INTO devices (device_id, user_id, platform, created_at, last_seen_at, lineage_id)"
            " VALUES (?, 'usr_1', 'android', 1, 1, ?)",
            (device, device),
        )
    rows = [("dev_a", "2024-01-01", "m1"), ("dev_a", "2024-01-02", "m1"), ("dev_b", "2024-01-02", "m2"),
            ("dev_b", "2024-01-03", "m2")]  # fmt: skip
    for seq, (device, day, model) in enumerate(rows, start=1):
        conn.execute(
            "INSERT INTO aggregates (device_id, lineage_id, user_id, seq, day, tz_offset_min,"
            " window_bucket, levels, mechanism, model_version, created_at, received_at, body)"
            " VALUES (?, ?, 'usr_1', ?, ?, 0, 1, '{\"stress\":1}', '{\"name\":\"k_rr\"}', ?, 1, 2, x'00')",
            (device, device, seq, day, model),
        )
    conn.close()

    assert _migrate(path) == [m.name for m in MIGRATIONS if m.name >= "0022"]
    conn = sqlite3.connect(path)
    try:
        counts = conn.execute(
            "SELECT day, model_version, count FROM aggregate_model_counts ORDER BY day, model_version"
        ).fetchall()
    finally:
        conn.close()
    assert counts == [
        ("2024-01-01", "m1", 1),
        ("2024-01-02", "m1", 1),
        ("2024-01-02", "m2", 1),
        ("2024-01-03", "m2", 1),
    ]
