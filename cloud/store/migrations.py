"""Registered, ordered schema migrations for the SQLite backend.

A migration is applied once, in order, and recorded in ``schema_migrations`` in the same
transaction as its DDL, so a crash mid-migration leaves the schema either before or after it.
Never edit a released migration; append a new one.
"""

from __future__ import annotations

from typing import Final

import msgspec


class Migration(msgspec.Struct, frozen=True):
    name: str
    sql: str


MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration(
        "0001_initial",
        """
        CREATE TABLE users (
            user_id      TEXT PRIMARY KEY,
            external_ref TEXT,
            -- Change-log counter: incremented inside the writing transaction, so versions of
            -- one user commit in order and a device's cursor never skips a change.
            version      INTEGER NOT NULL DEFAULT 0,
            created_at   INTEGER NOT NULL
        );
        CREATE TABLE devices (
            device_id    TEXT PRIMARY KEY,
            user_id      TEXT NOT NULL REFERENCES users(user_id),
            platform     TEXT NOT NULL,
            app_version  TEXT NOT NULL DEFAULT '',
            last_seq     INTEGER NOT NULL DEFAULT 0,
            skew_ms      INTEGER NOT NULL DEFAULT 0,
            revoked      INTEGER NOT NULL DEFAULT 0,
            revoked_at   INTEGER,
            created_at   INTEGER NOT NULL,
            last_seen_at INTEGER NOT NULL
        );
        CREATE INDEX devices_user ON devices(user_id);
        CREATE TABLE enrollment_codes (
            code_hash  TEXT PRIMARY KEY,
            user_id    TEXT NOT NULL REFERENCES users(user_id),
            expires_at INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            used_at    INTEGER,
            device_id  TEXT
        );
        CREATE TABLE refresh_tokens (
            token_hash  TEXT PRIMARY KEY,
            device_id   TEXT NOT NULL REFERENCES devices(device_id),
            issued_at   INTEGER NOT NULL,
            expires_at  INTEGER NOT NULL,
            spent_at    INTEGER,
            replaced_by TEXT,
            -- The answer given when this token was spent, kept only until the successor is
            -- itself spent, so a device whose reply was lost can replay within the grace period.
            successor   BLOB,
            revoked_at  INTEGER
        );
        CREATE INDEX refresh_tokens_device ON refresh_tokens(device_id);
        CREATE TABLE aggregates (
            aggregate_id  INTEGER PRIMARY KEY,
            device_id     TEXT NOT NULL REFERENCES devices(device_id),
            user_id       TEXT NOT NULL REFERENCES users(user_id),
            seq           INTEGER NOT NULL,
            day           TEXT NOT NULL,
            tz_offset_min INTEGER NOT NULL,
            window_bucket INTEGER NOT NULL,
            levels        TEXT NOT NULL,
            mechanism     TEXT NOT NULL,
            model_version TEXT NOT NULL,
            created_at    INTEGER NOT NULL,
            received_at   INTEGER NOT NULL,
            body          BLOB NOT NULL,
            UNIQUE (device_id, day)
        );
        CREATE INDEX aggregates_user ON aggregates(user_id);
        CREATE TABLE change_log (
            user_id    TEXT NOT NULL REFERENCES users(user_id),
            version    INTEGER NOT NULL,
            type       TEXT NOT NULL,
            body       BLOB NOT NULL,
            created_at INTEGER NOT NULL,
            PRIMARY KEY (user_id, version)
        ) WITHOUT ROWID;
        CREATE TABLE consent (
            user_id    TEXT NOT NULL REFERENCES users(user_id),
            scope      TEXT NOT NULL,
            granted    INTEGER NOT NULL,
            device_id  TEXT,
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (user_id, scope)
        );
        CREATE TABLE push_tokens (
            device_id  TEXT PRIMARY KEY REFERENCES devices(device_id),
            token      TEXT NOT NULL,
            platform   TEXT NOT NULL,
            active     INTEGER NOT NULL DEFAULT 1,
            updated_at INTEGER NOT NULL
        );
        CREATE TABLE notices (
            notice_id  TEXT PRIMARY KEY,
            user_id    TEXT NOT NULL REFERENCES users(user_id),
            version    INTEGER NOT NULL,
            kind       TEXT NOT NULL,
            title      TEXT NOT NULL,
            body       TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            acked_at   INTEGER,
            acked_by   TEXT
        );
        CREATE INDEX notices_user ON notices(user_id);
        CREATE TABLE outbox (
            outbox_id  INTEGER PRIMARY KEY AUTOINCREMENT,
            kind       TEXT NOT NULL,
            payload    BLOB NOT NULL,
            state      TEXT NOT NULL DEFAULT 'pending',
            attempts   INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        );
        CREATE INDEX outbox_state ON outbox(state, updated_at);
        """,
    ),
    Migration(
        "0002_device_lineage",
        """
        -- A lineage is a device and every device that replaced it on re-enrollment (a store
        -- restored from a backup); a first device's lineage id is its own id.
        ALTER TABLE devices ADD COLUMN lineage_id TEXT;
        ALTER TABLE devices ADD COLUMN replaces_device_id TEXT;
        UPDATE devices SET lineage_id = device_id WHERE lineage_id IS NULL;
        CREATE INDEX devices_lineage ON devices(lineage_id);
        -- Aggregates become unique per (lineage, day), so a re-enrolled store re-sending what the
        -- old identity already delivered stores nothing twice. SQLite cannot drop a table
        -- constraint, so the table is rebuilt (nothing references it).
        CREATE TABLE aggregates_v2 (
            aggregate_id  INTEGER PRIMARY KEY,
            device_id     TEXT NOT NULL REFERENCES devices(device_id),
            lineage_id    TEXT NOT NULL,
            user_id       TEXT NOT NULL REFERENCES users(user_id),
            seq           INTEGER NOT NULL,
            day           TEXT NOT NULL,
            tz_offset_min INTEGER NOT NULL,
            window_bucket INTEGER NOT NULL,
            levels        TEXT NOT NULL,
            mechanism     TEXT NOT NULL,
            model_version TEXT NOT NULL,
            created_at    INTEGER NOT NULL,
            received_at   INTEGER NOT NULL,
            body          BLOB NOT NULL,
            UNIQUE (lineage_id, day)
        );
        INSERT INTO aggregates_v2 (aggregate_id, device_id, lineage_id, user_id, seq, day, tz_offset_min,
            window_bucket, levels, mechanism, model_version, created_at, received_at, body)
        SELECT aggregate_id, device_id, device_id, user_id, seq, day, tz_offset_min, window_bucket,
            levels, mechanism, model_version, created_at, received_at, body
        FROM aggregates;
        DROP TABLE aggregates;
        ALTER TABLE aggregates_v2 RENAME TO aggregates;
        CREATE INDEX aggregates_user ON aggregates(user_id);
        """,
    ),
    Migration(
        "0003_mutation_digests",
        """
        -- One row per processed (device, seq): a digest of the mutation's content. A later push
        -- of a processed seq with another digest comes from a store restored from a backup and is
        -- refused (seq_conflict) instead of being answered "duplicate". Seqs processed before
        -- this migration have no row and stay plain duplicates.
        CREATE TABLE mutation_digests (
            device_id TEXT NOT NULL REFERENCES devices(device_id),
            seq       INTEGER NOT NULL,
            digest    BLOB NOT NULL,
            PRIMARY KEY (device_id, seq)
        ) WITHOUT ROWID;
        """,
    ),
    Migration(
        "0004_credit_offers",
        """
        -- Money in integer cents, rates in basis points (DESIGN §7).
        CREATE TABLE credit_profiles (
            user_id     TEXT PRIMARY KEY REFERENCES users(user_id),
            currency    TEXT NOT NULL,
            limit_cents INTEGER NOT NULL CHECK (limit_cents >= 0),
            used_cents  INTEGER NOT NULL CHECK (used_cents >= 0),
            rate_bps    INTEGER NOT NULL CHECK (rate_bps >= 0),
            updated_at  INTEGER NOT NULL
        );
        CREATE TABLE offers (
            offer_id            TEXT PRIMARY KEY,
            user_id             TEXT NOT NULL REFERENCES users(user_id),
            status              TEXT NOT NULL,
            current_limit_cents INTEGER NOT NULL CHECK (current_limit_cents >= 0),
            new_limit_cents     INTEGER NOT NULL CHECK (new_limit_cents >= 0),
            rate_bps            INTEGER NOT NULL CHECK (rate_bps >= 0),
            term_months         INTEGER NOT NULL,
            expires_at          INTEGER NOT NULL,
            reason_codes        TEXT NOT NULL,
            policy_version      TEXT NOT NULL,
            created_at          INTEGER NOT NULL,
            updated_at          INTEGER NOT NULL
        );
        CREATE INDEX offers_user ON offers(user_id, created_at);
        -- Append-only: one row per offer transition and per profile change, written in the
        -- transaction that makes the change. A profile event has no offer and no statuses; its
        -- ``detail`` holds the profile as set.
        CREATE TABLE offer_audit (
            audit_id    INTEGER PRIMARY KEY AUTOINCREMENT,
            offer_id    TEXT REFERENCES offers(offer_id),
            user_id     TEXT NOT NULL REFERENCES users(user_id),
            from_status TEXT,
            to_status   TEXT,
            actor       TEXT NOT NULL,
            reason_code TEXT NOT NULL,
            ref         TEXT,
            detail      TEXT,
            at          INTEGER NOT NULL
        );
        CREATE INDEX offer_audit_offer ON offer_audit(offer_id, audit_id);
        CREATE INDEX offer_audit_user ON offer_audit(user_id, audit_id);
        CREATE TRIGGER offer_audit_no_update BEFORE UPDATE ON offer_audit
            BEGIN SELECT RAISE(ABORT, 'offer_audit is append-only'); END;
        CREATE TRIGGER offer_audit_no_delete BEFORE DELETE ON offer_audit
            BEGIN SELECT RAISE(ABORT, 'offer_audit is append-only'); END;
        """,
    ),
    Migration(
        "0005_push",
        """
        -- A follow-up row (a push about what a job did) names the row whose job wrote it, so
        -- that job can enqueue it right after its own commit.
        ALTER TABLE outbox ADD COLUMN parent_id INTEGER REFERENCES outbox(outbox_id);
        -- Earliest time the relay may take a row's next attempt: a push FCM asked us to retry
        -- later backs off beyond the relay timeout. NULL = no back-off.
        ALTER TABLE outbox ADD COLUMN not_before INTEGER;
        CREATE INDEX outbox_parent ON outbox(parent_id);
        -- Every push attempt, one row per (outbox row, attempt, token), whatever the sender; a
        -- token with a 'sent' row for an outbox row is never sent that row again.
        CREATE TABLE push_attempts (
            attempt_id INTEGER PRIMARY KEY AUTOINCREMENT,
            outbox_id  INTEGER NOT NULL REFERENCES outbox(outbox_id),
            attempt    INTEGER NOT NULL,
            user_id    TEXT NOT NULL REFERENCES users(user_id),
            device_id  TEXT NOT NULL,
            token      TEXT NOT NULL,
            sender     TEXT NOT NULL,
            outcome    TEXT NOT NULL,
            error_code TEXT,
            message_id TEXT,
            message    TEXT NOT NULL,
            at         INTEGER NOT NULL
        );
        CREATE INDEX push_attempts_outbox ON push_attempts(outbox_id, token);
        CREATE INDEX push_attempts_user ON push_attempts(user_id, attempt_id);
        """,
    ),
    Migration(
        "0006_credit_evaluations",
        """
        -- The scorecard's per-user inputs that the credit profile does not hold (utilisation, the
        -- current limit and rate are read from the profile when an evaluation runs).
        CREATE TABLE credit_features (
            user_id              TEXT PRIMARY KEY REFERENCES users(user_id),
            months_on_book       INTEGER NOT NULL CHECK (months_on_book >= 0),
            on_time_payments_12m INTEGER NOT NULL CHECK (on_time_payments_12m BETWEEN 0 AND 12),
            missed_payments_12m  INTEGER NOT NULL CHECK (missed_payments_12m BETWEEN 0 AND 12),
            income_band          TEXT NOT NULL,
            updated_at           INTEGER NOT NULL
        );
        -- One row per requested evaluation; its outbox row (kind evaluate_credit) is the job.
        -- ``day`` is the UTC day it was requested on: the daily run writes at most one per user
        -- and day (the partial unique index), whatever runs the cron twice.
        CREATE TABLE evaluations (
            evaluation_id TEXT PRIMARY KEY,
            user_id       TEXT NOT NULL REFERENCES users(user_id),
            status        TEXT NOT NULL,
            trigger       TEXT NOT NULL,
            day           TEXT NOT NULL,
            outbox_id     INTEGER REFERENCES outbox(outbox_id),
            result        TEXT,
            offer_id      TEXT REFERENCES offers(offer_id),
            created_at    INTEGER NOT NULL,
            updated_at    INTEGER NOT NULL
        );
        CREATE INDEX evaluations_user ON evaluations(user_id, created_at);
        CREATE INDEX evaluations_outbox ON evaluations(outbox_id);
        CREATE UNIQUE INDEX evaluations_daily ON evaluations(user_id, day) WHERE trigger = 'daily';
        CREATE INDEX offers_status ON offers(user_id, status);
        """,
    ),
    Migration(
        "0007_offer_expiry_and_outbox_retry",
        """
        -- The expiry cron looks for open offers past a time; this keeps it off a full scan.
        CREATE INDEX offers_open_expiry ON offers(status, expires_at);
        -- Number of the first attempt of the row's current round: 0, or the attempt an
        -- operator's retry of a dead row started at. The relay dead-letters a row after
        -- OUTBOX_MAX_ATTEMPTS attempts of its round, and attempt numbers (hence job ids
        -- {outbox_id}:{attempt}) never repeat across rounds.
        ALTER TABLE outbox ADD COLUMN first_attempt INTEGER NOT NULL DEFAULT 0;
        """,
    ),
    Migration(
        "0008_push_token_owner",
        """
        -- A push token names one app install: registering it on a device deactivates it on any
        -- other device (a phone re-enrolled under another user keeps its FCM token).
        CREATE INDEX push_tokens_token ON push_tokens(token);
        UPDATE push_tokens SET active = 0 WHERE active = 1 AND EXISTS (
            SELECT 1 FROM push_tokens newer WHERE newer.token = push_tokens.token
            AND newer.device_id != push_tokens.device_id AND newer.active = 1
            AND (newer.updated_at > push_tokens.updated_at
                 OR (newer.updated_at = push_tokens.updated_at AND newer.device_id > push_tokens.device_id))
        );
        """,
    ),
    Migration(
        "0009_offer_base_rate",
        """
        -- An offer records the limit (current_limit_cents) and the rate it was made on; applying
        -- it is a compare-and-set on both. Offers made before this migration get the profile's
        -- rate of now if they are still open or accepted (the best record there is); closed
        -- offers keep NULL, which the apply rule reads as "compare the limit only".
        ALTER TABLE offers ADD COLUMN base_rate_bps INTEGER;
        UPDATE offers SET base_rate_bps = (
            SELECT p.rate_bps FROM credit_profiles p WHERE p.user_id = offers.user_id
        ) WHERE status IN ('offered', 'accepted');
        """,
    ),
    Migration(
        "0010_consent_recorded_grant",
        """
        -- When each consent change was made, on the server's clock (the SetConsent's created_at
        -- corrected with the device's skew): changes from several devices are ordered by it, and
        -- an older one is a no-op. Rows from before get the time they were recorded.
        ALTER TABLE consent ADD COLUMN changed_at INTEGER;
        UPDATE consent SET changed_at = updated_at;
        -- The cloud holds aggregates only under a recorded grant of share_aggregates. Before this
        -- migration only an explicit revoke was refused, so aggregates of users who never granted
        -- sharing could be stored: they go now.
        DELETE FROM aggregates WHERE user_id NOT IN (
            SELECT user_id FROM consent WHERE scope = 'share_aggregates' AND granted = 1
        );
        """,
    ),
    Migration(
        "0011_mutation_results",
        """
        -- Each processed mutation's result is kept with its digest: a seq resent after a lost
        -- reply gets its original result, marked as a replay, so a refused money action is always
        -- heard. Rows from before have none and stay plain duplicates.
        ALTER TABLE mutation_digests ADD COLUMN status TEXT;
        ALTER TABLE mutation_digests ADD COLUMN code TEXT;
        ALTER TABLE mutation_digests ADD COLUMN detail TEXT;
        """,
    ),
)
