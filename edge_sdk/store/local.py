"""The local store: one SQLite file through sqlite-utils, in WAL mode, with ``atomic()`` writes.

Every multi-step write runs inside :meth:`LocalStore.atomic`, one ``BEGIN IMMEDIATE``
transaction: the write lock is taken up front, so a transaction never fails half way on a
lock upgrade and a crash (or exception) at any point leaves the previous committed state.
``synchronous=FULL`` because an acknowledged outbox delete or a stored refresh token must
survive power loss, and the write volume of a device is tiny.

One :class:`LocalStore` owns one connection; an ``RLock`` serialises its users, so the host
app may call writers from any thread while ``sync()`` runs on another.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from sqlite_utils import Database

from edge_sdk.errors import AlreadyEnrolled, DeviceStateRolledBack, InvalidMutation, StoreError
from edge_sdk.store import mirror
from edge_sdk.store.migrations import KNOWN_MIGRATIONS, migrations
from sync.codec import CodecError, decode_mutation, encode_mutation
from sync.codes import RejectionCode, ResultStatus
from sync.messages import (
    AckNotice,
    AnyChange,
    ModelRelease,
    Mutation,
    MutationResult,
    SubmitAggregate,
    TokenPair,
)
from sync.push import is_rolled_back

BUSY_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class InstalledModel:
    """A model release installed on the device (its files are in ``folder``)."""

    release: int
    model_version: str
    variant: str
    folder: str
    installed_at: int


@dataclass(frozen=True, slots=True)
class SyncState:
    """The single ``sync_state`` row."""

    device_id: str | None
    user_id: str | None
    cursor: str | None
    last_seq_acked: int
    """Highest seq the cloud has acknowledged (never moves backwards locally)."""
    highest_seq_allocated: int
    skew_ms: int
    """Device clock minus cloud clock, estimated at the last exchange."""
    consecutive_failures: int
    next_attempt_at: int | None
    """While backing off: the earliest device time (epoch ms) of the next attempt."""
    last_sync_at: int | None
    next_sync_hint_at: int | None
    """When the cloud suggested syncing again (``next_sync_after_s`` of the last reply)."""
    last_error: str | None
    replacing_device_id: str | None = None
    """Set while re-enrolling after a rollback or a lost identity: the identity being replaced
    (see :meth:`LocalStore.begin_replacement`)."""
    identity_lost: str | None = None
    """Set when the cloud stopped accepting this identity (the error code, e.g. ``device_revoked``):
    its tokens are discarded and it never syncs again; cleared by re-enrollment."""
    requeued_through: int = 0
    """Seqs up to this were re-queued by the last re-enrollment: the cloud may already hold them
    under the replaced identity, so a ``duplicate_day`` for one of them is a delivery, not a refusal."""


@dataclass(frozen=True, slots=True)
class Credentials:
    base_url: str
    access_token: str
    access_expires_at: int
    refresh_token: str
    refresh_expires_at: int


@dataclass(frozen=True, slots=True)
class OutboxRow:
    seq: int
    type: str
    mutation: bytes
    """msgpack, as :func:`sync.codec.encode_mutation` produced it."""
    created_at: int


@dataclass(frozen=True, slots=True)
class Rejection:
    """A pushed mutation the cloud processed and refused; kept so the host app can tell the user."""

    device_id: str | None
    seq: int
    type: str
    code: str | None
    detail: str | None
    rejected_at: int


@dataclass(frozen=True, slots=True)
class ReplyResult:
    """What :meth:`LocalStore.apply_reply` did with one sync reply."""

    deleted: int
    """Outbox rows the reply acknowledged."""
    rejected: tuple[Rejection, ...]
    applied: int
    """Changes applied to the mirror."""
    skipped: int
    """Changes older than the mirror, left out."""
    wiped: bool
    """A ``Wipe`` erased the store."""


_STATE_COLUMNS = (
    "device_id, user_id, cursor, last_seq_acked, highest_seq_allocated, skew_ms, "
    "consecutive_failures, next_attempt_at, last_sync_at, next_sync_hint_at, last_error, "
    "replacing_device_id, identity_lost, requeued_through"
)


class LocalStore:
    """Typed access to the edge SDK's SQLite file. Open with :func:`open_store`."""

    def __init__(self, db: Database, path: str) -> None:
        self._db = db
        self._lock = threading.RLock()
        self.path = path

    # --- lifecycle ---------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @property
    def db(self) -> Database:
        """The underlying sqlite-utils database (tests and migrations only)."""
        return self._db

    @contextmanager
    def atomic(self) -> Iterator[Database]:
        """Run a multi-step write in one ``BEGIN IMMEDIATE`` transaction.

        Commits when the block ends, rolls back on any exception (``BaseException`` included,
        so a simulated crash leaves nothing half written). Nested calls use a savepoint.
        """
        with self._lock:
            conn = self._db.conn
            if conn.in_transaction:
                with self._db.atomic():
                    yield self._db
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            try:
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            rows: list[tuple[Any, ...]] = self._db.execute(sql, list(params)).fetchall()
            return rows

    def applied_migrations(self) -> list[str]:
        return [m.name for m in migrations.applied(self._db)]

    def journal_mode(self) -> str:
        return self._db.journal_mode

    # --- sync state and credentials ----------------------------------------------

    def state(self) -> SyncState:
        # Interpolates a module constant only; values are always bound parameters.
        row = self._query(f"SELECT {_STATE_COLUMNS} FROM sync_state WHERE id = 1")[0]  # noqa: S608
        return SyncState(*row)

    def credentials(self) -> Credentials | None:
        rows = self._query(
            "SELECT base_url, access_token, access_expires_at, refresh_token, refresh_expires_at "
            "FROM credentials WHERE id = 1"
        )
        return Credentials(*rows[0]) if rows else None

    def _write_credentials(self, db: Database, tokens: TokenPair, base_url: str) -> None:
        db.execute(
            "INSERT INTO credentials (id, base_url, access_token, access_expires_at, refresh_token, "
            "refresh_expires_at) VALUES (1, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
            "base_url = excluded.base_url, access_token = excluded.access_token, "
            "access_expires_at = excluded.access_expires_at, refresh_token = excluded.refresh_token, "
            "refresh_expires_at = excluded.refresh_expires_at",
            [
                base_url,
                tokens.access_token,
                tokens.access_expires_at,
                tokens.refresh_token,
                tokens.refresh_expires_at,
            ],
        )

    def set_enrollment(self, tokens: TokenPair, base_url: str) -> None:
        """Store a first device identity; mutations queued before enrollment keep their seqs."""
        with self.atomic() as db:
            if self.state().device_id is not None:
                raise AlreadyEnrolled("this store already holds a device identity")
            db.execute(
                "UPDATE sync_state SET device_id = ?, user_id = ?, cursor = NULL, last_seq_acked = 0, "
                "consecutive_failures = 0, next_attempt_at = NULL, last_error = NULL WHERE id = 1",
                [tokens.device_id, tokens.user_id],
            )
            mirror.clear(db)
            self._write_credentials(db, tokens, base_url)

    def store_tokens(self, tokens: TokenPair, base_url: str) -> bool:
        """Store a refreshed pair; ``False`` (nothing stored) if it is for another device."""
        with self.atomic() as db:
            if self.state().device_id != tokens.device_id:
                return False
            self._write_credentials(db, tokens, base_url)
            return True

    def begin_replacement(self) -> str | None:
        """Record, before asking the cloud, that this store's identity is being replaced.

        The cloud revokes the replaced identity when it enrolls the new one, so if that answer
        is lost (or the process dies before :meth:`reenroll`) the store must never sync as the
        old identity again: the next ``sync()`` re-enrolls at once. Returns the identity being
        replaced (the one recorded earlier, if a previous attempt did not finish).
        """
        with self.atomic() as db:
            state = self.state()
            if state.replacing_device_id is None and state.device_id is not None:
                db.execute("UPDATE sync_state SET replacing_device_id = ? WHERE id = 1", [state.device_id])
                return state.device_id
            return state.replacing_device_id

    def reenroll(self, tokens: TokenPair, base_url: str) -> int:
        """Take a new device identity after a rollback, keeping every pending mutation.

        Pending mutations are renumbered from seq 1 in their old order (the new device's
        ``last_seq`` is 0); cursor and mirror are reset so the next pull rebuilds them.
        Returns how many mutations were re-queued.
        """
        with self.atomic() as db:
            rows = self._outbox_rows(db, "SELECT seq, type, mutation, created_at FROM outbox ORDER BY seq")
            db.execute("DELETE FROM outbox")
            for new_seq, row in enumerate(rows, start=1):
                data = _renumber(row.mutation, new_seq)
                db.execute(
                    "INSERT INTO outbox (seq, type, mutation, created_at) VALUES (?, ?, ?, ?)",
                    [new_seq, row.type, data, row.created_at],
                )
            db.execute(
                "UPDATE sync_state SET device_id = ?, user_id = ?, cursor = NULL, last_seq_acked = 0, "
                "highest_seq_allocated = ?, consecutive_failures = 0, next_attempt_at = NULL, "
                "last_error = NULL, replacing_device_id = NULL, identity_lost = NULL, "
                "requeued_through = ? WHERE id = 1",
                [tokens.device_id, tokens.user_id, len(rows), len(rows)],
            )
            mirror.clear(db)
            self._write_credentials(db, tokens, base_url)
            return len(rows)

    def lose_identity(self, code: str) -> None:
        """Record that the cloud no longer accepts this identity and discard its tokens.

        Outbox and mirror stay: the app keeps working offline, and a re-enrollment naming this
        identity (:meth:`begin_replacement`, :meth:`reenroll`) re-queues what is pending.
        """
        with self.atomic() as db:
            if self.state().device_id is None:
                return
            db.execute("DELETE FROM credentials")
            db.execute("UPDATE sync_state SET identity_lost = ? WHERE id = 1", [code])

    def wipe(self) -> None:
        """Erase everything: outbox, mirror, rejections, window scores, credentials and identity."""
        with self.atomic() as db:
            _wipe(db)

    def record_success(self, now_ms: int, next_sync_hint_at: int | None) -> None:
        with self.atomic() as db:
            db.execute(
                "UPDATE sync_state SET consecutive_failures = 0, next_attempt_at = NULL, last_error = NULL, "
                "last_sync_at = ?, next_sync_hint_at = ? WHERE id = 1",
                [now_ms, next_sync_hint_at],
            )

    def record_failure(self, failures: int, next_attempt_at: int, error: str) -> None:
        with self.atomic() as db:
            db.execute(
                "UPDATE sync_state SET consecutive_failures = ?, next_attempt_at = ?, last_error = ? "
                "WHERE id = 1",
                [failures, next_attempt_at, error[:500]],
            )

    def reset_cursor(self) -> None:
        """Forget the cursor and the mirror so the next pull rebuilds them from the start."""
        with self.atomic() as db:
            db.execute("UPDATE sync_state SET cursor = NULL WHERE id = 1")
            mirror.clear(db)

    # --- outbox ------------------------------------------------------------------

    def enqueue(self, build: Callable[[int], Mutation]) -> Mutation:
        """Allocate the next seq and store the mutation ``build(seq)`` returns, in one transaction.

        The mutation is encoded and decoded again with the protocol's own decoder, so anything
        the cloud would refuse as invalid raises :class:`InvalidMutation` and nothing is stored.
        """
        with self.atomic() as db:
            seq = self.state().highest_seq_allocated + 1
            try:
                data = encode_mutation(build(seq))
                mutation = decode_mutation(data)
            except (msgspec.MsgspecError, CodecError, ValueError, TypeError, AttributeError) as exc:
                raise InvalidMutation(str(exc)) from exc
            db.execute(
                "INSERT INTO outbox (seq, type, mutation, created_at) VALUES (?, ?, ?, ?)",
                [seq, type(mutation).__name__, data, mutation.created_at],
            )
            db.execute("UPDATE sync_state SET highest_seq_allocated = ? WHERE id = 1", [seq])
            return mutation

    @staticmethod
    def _outbox_rows(db: Database, sql: str, params: Sequence[Any] = ()) -> list[OutboxRow]:
        return [OutboxRow(*r) for r in db.execute(sql, list(params)).fetchall()]

    def outbox_batch(self, from_seq: int, limit: int, max_bytes: int) -> list[OutboxRow]:
        """Pending rows with ``seq >= from_seq`` in ascending order, at most ``limit`` rows and
        ``max_bytes`` of encoded mutations (always at least one row if any is pending)."""
        with self._lock:
            rows = self._outbox_rows(
                self._db,
                "SELECT seq, type, mutation, created_at FROM outbox WHERE seq >= ? ORDER BY seq LIMIT ?",
                [from_seq, limit],
            )
        batch: list[OutboxRow] = []
        size = 0
        for row in rows:
            size += len(row.mutation)
            if batch and size > max_bytes:
                break
            batch.append(row)
        return batch

    def first_pending_seq(self) -> int | None:
        value = self._query("SELECT MIN(seq) FROM outbox")[0][0]
        return int(value) if value is not None else None

    def pending_count(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM outbox")[0][0])

    def pending(self, types: Iterable[str] | None = None) -> list[Mutation]:
        """Decoded pending mutations in seq order, optionally only of the given type names."""
        if types is None:
            rows = self._query("SELECT mutation FROM outbox ORDER BY seq")
        else:
            names = list(types)
            marks = ", ".join("?" for _ in names)
            sql = f"SELECT mutation FROM outbox WHERE type IN ({marks}) ORDER BY seq"  # noqa: S608 (only "?" marks)
            rows = self._query(sql, names)
        return [decode_mutation(r[0]) for r in rows]

    def apply_reply(
        self,
        *,
        last_seq: int,
        results: Sequence[MutationResult],
        changes: Sequence[AnyChange] | None,
        cursor: str | None,
        skew_ms: int,
        now_ms: int,
    ) -> ReplyResult:
        """Everything one sync reply changes locally, in one transaction (protocol §6.2).

        Checks for a rollback first, then deletes the outbox rows up to ``last_seq``, records
        refusals, saves ``last_seq`` and skew, applies ``changes`` in order, saves ``cursor`` and
        clears the backoff state. With ``changes=None`` (the reply carried a change this build
        knows but cannot decode) only the acknowledgement is applied; cursor, mirror and backoff
        state stay.
        A ``Wipe`` erases everything (cursor included) and ends the page there.

        Raises :class:`DeviceStateRolledBack` (changing nothing) when ``last_seq`` is above
        the highest seq this store ever allocated.
        """
        with self.atomic() as db:
            state = self.state()
            if is_rolled_back(last_seq, state.highest_seq_allocated):
                raise DeviceStateRolledBack(last_seq, state.highest_seq_allocated)
            deleted, rejected = self._acknowledge(db, state, last_seq, results, now_ms)
            db.execute(
                "UPDATE sync_state SET last_seq_acked = MAX(last_seq_acked, ?), skew_ms = ? WHERE id = 1",
                [last_seq, skew_ms],
            )
            if changes is None:
                # A reply the engine reports as failed: the backoff state stays, so a cloud
                # sending the same broken change again meets a growing delay.
                return ReplyResult(deleted, rejected, 0, 0, wiped=False)
            db.execute(
                "UPDATE sync_state SET consecutive_failures = 0, next_attempt_at = NULL, last_error = NULL "
                "WHERE id = 1"
            )
            applied = skipped = 0
            for change in changes:
                outcome = mirror.apply_change(db, change)
                if outcome is mirror.Applied.WIPE:
                    _wipe(db)
                    return ReplyResult(deleted, rejected, applied, skipped, wiped=True)
                if outcome is mirror.Applied.YES:
                    applied += 1
                else:
                    skipped += 1
            if cursor is not None:
                db.execute("UPDATE sync_state SET cursor = ? WHERE id = 1", [cursor])
            return ReplyResult(deleted, rejected, applied, skipped, wiped=False)

    def _acknowledge(
        self,
        db: Database,
        state: SyncState,
        last_seq: int,
        results: Sequence[MutationResult],
        now_ms: int,
    ) -> tuple[int, tuple[Rejection, ...]]:
        """Delete outbox rows up to ``last_seq`` and record refusals (inside a transaction)."""
        by_seq = {r.seq: r for r in results}
        rows = self._outbox_rows(
            db, "SELECT seq, type, mutation, created_at FROM outbox WHERE seq <= ?", [last_seq]
        )
        rejected: list[Rejection] = []
        for row in rows:
            result = by_seq.get(row.seq)
            if result is not None and result.status == ResultStatus.REJECTED:
                if _already_delivered(state, row, result):
                    continue
                rejection = Rejection(state.device_id, row.seq, row.type, result.code, result.detail, now_ms)
                db.execute(
                    "INSERT INTO rejections (device_id, seq, type, code, detail, rejected_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    [state.device_id, row.seq, row.type, result.code, result.detail, now_ms],
                )
                rejected.append(rejection)
            elif row.type == AckNotice.__name__:
                # Shown acked at once; the cloud's acked ``Notice`` change follows in a page.
                ack = decode_mutation(row.mutation)
                if isinstance(ack, AckNotice):
                    mirror.mark_notice_acked(db, ack.notice_id)
        db.execute("DELETE FROM outbox WHERE seq <= ?", [last_seq])
        return len(rows), tuple(rejected)

    def rejections(self) -> list[Rejection]:
        rows = self._query(
            "SELECT device_id, seq, type, code, detail, rejected_at FROM rejections ORDER BY id"
        )
        return [Rejection(*r) for r in rows]

    # --- mirror readers ----------------------------------------------------------

    def mirror_offers(self) -> list[mirror.OfferRow]:
        with self._lock:
            return mirror.read_offers(self._db)

    def mirror_profile(self) -> mirror.ProfileRow | None:
        with self._lock:
            return mirror.read_profile(self._db)

    def mirror_notices(self) -> list[mirror.NoticeRow]:
        with self._lock:
            return mirror.read_notices(self._db)

    def mirror_consent(self) -> dict[str, bool]:
        with self._lock:
            return mirror.read_consent(self._db)

    def mirror_models(self) -> list[ModelRelease]:
        with self._lock:
            return mirror.read_models(self._db)

    # --- the installed model release -----------------------------------------------

    def installed_model(self) -> InstalledModel | None:
        """The model release this device runs, if one was installed."""
        rows = self._query(
            "SELECT release, model_version, variant, folder, installed_at FROM installed_model WHERE id = 1"
        )
        return InstalledModel(*rows[0]) if rows else None

    def set_installed_model(self, installed: InstalledModel) -> None:
        with self.atomic() as db:
            db.execute(
                "INSERT OR REPLACE INTO installed_model (id, release, model_version, variant, folder,"
                " installed_at) VALUES (1, ?, ?, ?, ?, ?)",
                [installed.release, installed.model_version, installed.variant, installed.folder,
                 installed.installed_at],
            )  # fmt: skip

    def clear_installed_model(self) -> None:
        with self.atomic() as db:
            db.execute("DELETE FROM installed_model")


def _already_delivered(state: SyncState, row: OutboxRow, result: MutationResult) -> bool:
    """A re-queued aggregate the cloud refuses as ``duplicate_day`` reached it under the old identity.

    The lineage keeps one aggregate per day, so the refusal means the day is stored; showing it
    to the app as a rejection would report a failure that did not happen.
    """
    return (
        row.seq <= state.requeued_through
        and row.type == SubmitAggregate.__name__
        and result.code == RejectionCode.DUPLICATE_DAY
    )


def _renumber(data: bytes, seq: int) -> bytes:
    mutation = decode_mutation(data)
    return encode_mutation(msgspec.structs.replace(mutation, seq=seq))


def _wipe(db: Database) -> None:
    # The ε ledger stays (see migration 0005): the lifetime cap holds for the life of the install.
    db.execute("DELETE FROM window_scores")
    db.execute("DELETE FROM outbox")
    db.execute("DELETE FROM rejections")
    db.execute("DELETE FROM credentials")
    mirror.clear(db)
    db.execute("DELETE FROM sync_state")
    db.execute("INSERT INTO sync_state (id) VALUES (1)")


def open_store(path: str | Path) -> LocalStore:
    """Open (creating if needed) the store at ``path``: WAL, busy timeout, pending migrations.

    Raises :class:`StoreError` for a file that is not a usable store, including one migrated
    by a newer SDK (it has migrations this build does not know).
    """
    conn: sqlite3.Connection | None = None
    try:
        # check_same_thread=False: LocalStore serialises all use of the connection itself.
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, check_same_thread=False)
        db = Database(conn, execute_plugins=False)
        db.enable_wal()
        db.execute("PRAGMA synchronous = FULL")
        unknown = [m.name for m in migrations.applied(db) if m.name not in KNOWN_MIGRATIONS]
        if unknown:
            raise StoreError(f"store has migrations this SDK does not know: {unknown}")
        migrations.apply(db)
    except sqlite3.DatabaseError as exc:
        if conn is not None:
            conn.close()
        raise StoreError(f"cannot open local store: {exc}") from exc
    except StoreError:
        if conn is not None:
            conn.close()
        raise
    return LocalStore(db, str(path))
