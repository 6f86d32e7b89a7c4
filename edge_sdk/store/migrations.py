"""Schema of the local store, as migrations registered with sqlite-utils' ``Migrations``.

sqlite-utils (4.x) records each applied migration in ``_sqlite_migrations`` in the same
transaction as the migration itself, so a crash mid-migration leaves it pending, never half
applied. A schema change is a new function appended here; applied ones are never edited.

Binary columns hold msgspec msgpack: outbox rows hold a mutation exactly as
:func:`sync.codec.encode_mutation` produced it, mirror rows hold the pulled wire struct.
"""

from __future__ import annotations

from typing import Final

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

MIGRATION_SET: Final = "edge_sdk"

migrations = Migrations(MIGRATION_SET)

_INITIAL: Final = (
    """
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY,
        type TEXT NOT NULL,
        mutation BLOB NOT NULL,
        created_at INTEGER NOT NULL
    )
    """,
    """
    CREATE TABLE mirror_offers (
        offer_id TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        version INTEGER NOT NULL,
        offer BLOB NOT NULL
    )
    """,
    """
    CREATE TABLE mirror_profile (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        version INTEGER NOT NULL,
        profile BLOB NOT NULL
    )
    """,
    """
    CREATE TABLE mirror_notices (
        notice_id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        title TEXT NOT NULL,
        body TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        version INTEGER NOT NULL,
        acked INTEGER NOT NULL DEFAULT 0
    )
    """,
    """
    CREATE TABLE mirror_consent (
        scope TEXT PRIMARY KEY,
        granted INTEGER NOT NULL,
        version INTEGER NOT NULL
    )
    """,
    """
    CREATE TABLE mirror_models (
        model_version TEXT PRIMARY KEY,
        sha256 TEXT NOT NULL,
        url TEXT NOT NULL,
        version INTEGER NOT NULL
    )
    """,
    """
    CREATE TABLE rejections (
        id INTEGER PRIMARY KEY,
        device_id TEXT,
        seq INTEGER NOT NULL,
        type TEXT NOT NULL,
        code TEXT,
        detail TEXT,
        rejected_at INTEGER NOT NULL
    )
    """,
    # Single-row tables: the CHECK keeps a bug from ever creating a second identity.
    """
    CREATE TABLE sync_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        device_id TEXT,
        user_id TEXT,
        cursor TEXT,
        last_seq_acked INTEGER NOT NULL DEFAULT 0,
        highest_seq_allocated INTEGER NOT NULL DEFAULT 0,
        skew_ms INTEGER NOT NULL DEFAULT 0,
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER,
        last_sync_at INTEGER,
        next_sync_hint_at INTEGER,
        last_error TEXT
    )
    """,
    "INSERT INTO sync_state (id) VALUES (1)",
    """
    CREATE TABLE credentials (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        base_url TEXT NOT NULL,
        access_token TEXT NOT NULL,
        access_expires_at INTEGER NOT NULL,
        refresh_token TEXT NOT NULL,
        refresh_expires_at INTEGER NOT NULL
    )
    """,
)


@migrations(name="0001_initial")
def initial(db: Database) -> None:
    """Outbox, mirror tables, sync state and credentials."""
    for statement in _INITIAL:
        db.execute(statement)


@migrations(name="0002_replacing_device")
def replacing_device(db: Database) -> None:
    """The identity a rolled-back store is replacing, kept until the new identity is stored."""
    db.execute("ALTER TABLE sync_state ADD COLUMN replacing_device_id TEXT")


@migrations(name="0003_identity_lost")
def identity_lost(db: Database) -> None:
    """Why the cloud stopped accepting this identity (its tokens are discarded), until re-enrollment."""
    db.execute("ALTER TABLE sync_state ADD COLUMN identity_lost TEXT")


@migrations(name="0004_requeued_through")
def requeued_through(db: Database) -> None:
    """Highest seq re-queued by the last re-enrollment (those mutations may already be in the cloud)."""
    db.execute("ALTER TABLE sync_state ADD COLUMN requeued_through INTEGER NOT NULL DEFAULT 0")


_PRIVACY: Final = (
    # One row per scored window. ``end_ms`` is the key: two windows cannot end at the same
    # instant, so a replayed batch is refused instead of counted twice. ``local_day`` is fixed
    # when the window is stored (with the offset of that moment), so travel cannot move it.
    """
    CREATE TABLE window_scores (
        end_ms INTEGER PRIMARY KEY,
        local_day TEXT NOT NULL,
        tz_offset_min INTEGER NOT NULL,
        stress_prob REAL NOT NULL,
        valence REAL NOT NULL,
        arousal REAL NOT NULL,
        model_version TEXT NOT NULL
    )
    """,
    "CREATE INDEX window_scores_day ON window_scores (local_day)",
    # The ε ledger: one row per local day ever decided (released, or too few windows). The key
    # makes a second release of a day impossible; rows are never deleted, not even by a wipe,
    # because the lifetime cap must hold for the life of the install.
    """
    CREATE TABLE privacy_ledger (
        day TEXT PRIMARY KEY,
        status TEXT NOT NULL CHECK (status IN ('released', 'below_minimum')),
        epsilon REAL NOT NULL CHECK (epsilon >= 0),
        stress_epsilon REAL NOT NULL,
        valence_epsilon REAL NOT NULL,
        arousal_epsilon REAL NOT NULL,
        window_bucket INTEGER,
        seq INTEGER,
        recorded_at INTEGER NOT NULL
    )
    """,
)


@migrations(name="0005_privacy")
def privacy(db: Database) -> None:
    """Window scores kept for the retention period, and the on-device ε ledger."""
    for statement in _PRIVACY:
        db.execute(statement)


_MODEL_RELEASES: Final = (
    # The ModelRelease change is a signed release now (spec §5.9): one row, the newest announced.
    "DROP TABLE mirror_models",
    """
    CREATE TABLE mirror_models (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        release INTEGER NOT NULL,
        change BLOB NOT NULL,
        version INTEGER NOT NULL
    )
    """,
    # The release this device runs, installed by update_model() after every check passed; its
    # files are in folder. Not the user's data: a wipe keeps it.
    """
    CREATE TABLE installed_model (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        release INTEGER NOT NULL,
        model_version TEXT NOT NULL,
        variant TEXT NOT NULL,
        folder TEXT NOT NULL,
        installed_at INTEGER NOT NULL
    )
    """,
)


@migrations(name="0006_model_releases")
def model_releases(db: Database) -> None:
    """Signed model releases: the newest one announced, and the one installed."""
    for statement in _MODEL_RELEASES:
        db.execute(statement)


KNOWN_MIGRATIONS: Final = (
    "0001_initial",
    "0002_replacing_device",
    "0003_identity_lost",
    "0004_requeued_through",
    "0005_privacy",
    "0006_model_releases",
)
"""Names of every migration this build registers, in order (a store with others is from a newer SDK)."""
