"""SQLite backend of :class:`cloud.store.protocol.Store`, on aiosqlite.

Every store method is one transaction run as ONE call on aiosqlite's connection thread: a
plain function over the ``sqlite3`` connection, queued through ``Connection._execute`` (the
queueing primitive every public aiosqlite method is built on; aiosqlite 0.20-0.22 offer no
public way to run a caller's function on that thread). Awaiting each statement instead costs a
thread hop and an event-loop wake-up per statement: a sync-shaped transaction measured ~630/s
that way and ~6,000/s as one call.

Write transactions start with ``BEGIN IMMEDIATE`` so the write lock is taken up front; a
deferred transaction that reads and then writes can fail with ``SQLITE_BUSY`` that
``busy_timeout`` cannot retry. WAL lets readers run while a writer commits;
``synchronous=NORMAL`` in WAL mode survives a process kill (only an OS crash can lose the
last transactions).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Final, TypeVar

import aiosqlite
import msgspec

from cloud.domain.offers.rules import AcceptanceRule
from cloud.errors import (
    DeviceNotFound,
    DeviceRevoked,
    EnrollmentCodeExpired,
    EnrollmentCodeInvalid,
    EnrollmentCodeUsed,
    InvalidCursorError,
    ReplacesDeviceInvalid,
    SeqConflict,
    Unavailable,
    UserNotFound,
)
from cloud.push.messages import SEND_PUSH, PushMessage, PushOutcome, PushPayload, PushResult
from cloud.store import sqlite_credit, sqlite_offers, sqlite_outbox, sqlite_push
from cloud.store.migrations import MIGRATIONS
from cloud.store.records import (
    AggregateRecord,
    ApplyOutcome,
    AuditRecord,
    CreditFeaturesRecord,
    DeadLetterRecord,
    DeviceRecord,
    EvaluationCompleted,
    EvaluationInputs,
    EvaluationRecord,
    EvaluationRequested,
    EvaluationState,
    ItemResult,
    NoticeRecord,
    OfferCreated,
    OfferRecord,
    OfferTerms,
    OutboxRecord,
    OutboxState,
    OutboxStats,
    ProfileRecord,
    PushAttemptRecord,
    PushItem,
    PushPlan,
    PushTarget,
    RefreshGrant,
    RelayOutcome,
    RotationKind,
    RotationOutcome,
    StoredChange,
    SyncOutcome,
    UserRecord,
    UserView,
)
from cloud.store.sqlite_changelog import append_change
from cloud.store.sqlite_checkpoint import DEFAULT_INTERVAL_S as DEFAULT_CHECKPOINT_INTERVAL_S
from cloud.store.sqlite_checkpoint import WalCheckpointer
from cloud.store.sqlite_mutations import apply_mutation, consent_map
from sync.codes import ResultStatus
from sync.messages import Notice, Withdrawn
from sync.push import Action, Resend, judge_resend, plan_push

T = TypeVar("T")

BUSY_TIMEOUT_MS: Final = 5000
BUSY_RETRY_AFTER_S: Final = 1
"""``Retry-After`` of the ``503 unavailable`` answered when the lock stayed taken past ``busy_timeout``."""

_DEVICE_COLUMNS: Final = (
    "device_id, user_id, platform, app_version, last_seq, skew_ms, revoked, created_at, last_seen_at,"
    " lineage_id"
)


def _device(row: Sequence[Any]) -> DeviceRecord:
    return DeviceRecord(
        device_id=row[0],
        user_id=row[1],
        platform=row[2],
        app_version=row[3],
        last_seq=row[4],
        skew_ms=row[5],
        revoked=bool(row[6]),
        created_at=row[7],
        last_seen_at=row[8],
        lineage_id=row[9],
    )


def _user(row: Sequence[Any]) -> UserRecord:
    return UserRecord(user_id=row[0], external_ref=row[1], version=row[2], created_at=row[3])


def _split_statements(script: str) -> list[str]:
    """Split a migration into statements (``executescript`` would commit mid-transaction)."""
    statements: list[str] = []
    current: list[str] = []
    for line in script.splitlines(keepends=True):
        current.append(line)
        text = "".join(current)
        if sqlite3.complete_statement(text):
            statements.append(text.strip())
            current = []
    if "".join(current).strip():
        raise ValueError("migration ends with an incomplete statement")
    return statements


def _in_tx(begin: str, fn: Callable[[sqlite3.Connection], T], conn: sqlite3.Connection) -> T:
    conn.execute(begin)
    try:
        result = fn(conn)
        # COMMIT inside the try: a COMMIT that fails (a deferred constraint, SQLITE_BUSY, I/O)
        # leaves the transaction open, and the one shared connection would refuse every later BEGIN.
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return result


def _write_tx(fn: Callable[[sqlite3.Connection], T], conn: sqlite3.Connection) -> T:
    return _in_tx("BEGIN IMMEDIATE", fn, conn)


def _read_tx(fn: Callable[[sqlite3.Connection], T], conn: sqlite3.Connection) -> T:
    # A read transaction gives multi-statement reads one consistent snapshot.
    return _in_tx("BEGIN", fn, conn)


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    """SQLITE_BUSY / SQLITE_LOCKED: another connection held the lock past ``busy_timeout``."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    message = str(exc)
    return "database is locked" in message or "database is busy" in message


def _revoke(conn: sqlite3.Connection, device_id: str, now: int) -> Sequence[Any] | None:
    """Revoke the device and its refresh tokens; the device row, or ``None`` if there is none."""
    row: Sequence[Any] | None = conn.execute(
        "UPDATE devices SET revoked = 1, revoked_at = COALESCE(revoked_at, ?)"  # noqa: S608
        f" WHERE device_id = ? RETURNING {_DEVICE_COLUMNS}",
        (now, device_id),
    ).fetchone()
    if row is not None:
        conn.execute(
            "UPDATE refresh_tokens SET revoked_at = ?, successor = NULL"
            " WHERE device_id = ? AND revoked_at IS NULL",
            (now, device_id),
        )
    return row


def _resent(conn: sqlite3.Connection, device_id: str, item: PushItem) -> ItemResult:
    """The result of a processed seq pushed again (:func:`sync.push.judge_resend`).

    The same content gets the result kept when it was processed, marked as a replay; other
    content raises :class:`SeqConflict` (a store restored from a backup), which rolls the whole
    request back.
    """
    row = conn.execute(
        "SELECT digest, status, code, detail FROM mutation_digests WHERE device_id = ? AND seq = ?",
        (device_id, item.seq),
    ).fetchone()
    verdict = judge_resend(
        stored_digest=None if row is None else bytes(row[0]),
        has_result=row is not None and row[1] is not None,
        pushed_digest=item.digest,
        withdrawn=isinstance(item.mutation, Withdrawn),
    )
    if verdict is Resend.CONFLICT:
        raise SeqConflict(
            f"seq {item.seq} was already processed with other content: the device's store was"
            " restored from a backup; re-enroll with replaces_device_id"
        )
    if verdict is Resend.REPLAY:
        return ItemResult(seq=item.seq, status=row[1], code=row[2], detail=row[3], replay=True)
    return ItemResult(seq=item.seq, status=ResultStatus.DUPLICATE)


class SqliteStore:
    """The embedded store: one SQLite file, one aiosqlite connection."""

    def __init__(
        self,
        path: Path,
        checkpoint_interval_s: float = DEFAULT_CHECKPOINT_INTERVAL_S,
        acceptance: AcceptanceRule | None = None,
        fault_hook: Callable[[str], None] | None = None,
    ) -> None:
        self.path = path
        self.acceptance = acceptance or AcceptanceRule()
        """Bounds of the offline-acceptance rule applied to ``AcceptOffer`` in :meth:`sync`."""
        self.fault_hook = fault_hook
        """Tests only (:mod:`cloud.faults`): called with a point name inside ``apply_offer``'s transaction."""
        self._db: aiosqlite.Connection | None = None
        self.checkpointer = WalCheckpointer(path, BUSY_TIMEOUT_MS, checkpoint_interval_s)

    async def open(self) -> SqliteStore:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: the sqlite3 module opens no implicit transactions; ours are explicit.
        self._db = await aiosqlite.connect(self.path, isolation_level=None)
        await self._run(self._configure)
        await self.checkpointer.start()
        return self

    @staticmethod
    def _configure(conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        # Checkpoints run on their own connection (sqlite_checkpoint.py), never inside a request.
        conn.execute("PRAGMA wal_autocheckpoint = 0")

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` on the connection's thread as one queued call."""
        db = self._db
        if db is None:
            raise RuntimeError("store is not open")
        # ``_execute`` is untyped in aiosqlite; binding it first keeps the call itself typed.
        execute: Callable[..., Awaitable[T]] = db._execute
        try:
            return await execute(fn, db._conn)
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                # Another process (a second API worker, an operator's sqlite3 shell) held the
                # write lock for all of busy_timeout: a temporary condition, not a server fault.
                raise Unavailable("database busy, retry later", retry_after_s=BUSY_RETRY_AFTER_S) from exc
            raise

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._run(lambda conn: _write_tx(fn, conn))

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._run(lambda conn: _read_tx(fn, conn))

    # --- lifecycle -------------------------------------------------------------------

    async def migrate(self) -> list[str]:
        def tx(conn: sqlite3.Connection) -> list[str]:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations"
                " (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            done = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
            applied: list[str] = []
            for migration in MIGRATIONS:
                if migration.name in done:
                    continue
                for statement in _split_statements(migration.sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (name, applied_at) VALUES (?, datetime('now'))",
                    (migration.name,),
                )
                applied.append(migration.name)
            return applied

        # One write transaction: two processes starting at once apply each migration once.
        return await self._write(tx)

    async def close(self) -> None:
        await self.checkpointer.stop()
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def ping(self) -> None:
        await self._run(lambda conn: conn.execute("SELECT 1").fetchone())

    # --- users and enrollment --------------------------------------------------------

    async def create_user(self, user_id: str, external_ref: str | None, now: int) -> UserRecord:
        def tx(conn: sqlite3.Connection) -> UserRecord:
            conn.execute(
                "INSERT INTO users (user_id, external_ref, version, created_at) VALUES (?, ?, 0, ?)",
                (user_id, external_ref, now),
            )
            return UserRecord(user_id=user_id, external_ref=external_ref, version=0, created_at=now)

        return await self._write(tx)

    async def get_user(self, user_id: str) -> UserRecord | None:
        def q(conn: sqlite3.Connection) -> UserRecord | None:
            row = conn.execute(
                "SELECT user_id, external_ref, version, created_at FROM users WHERE user_id = ?", (user_id,)
            ).fetchone()
            return None if row is None else _user(row)

        return await self._run(q)

    async def create_enrollment_code(self, user_id: str, code_hash: str, expires_at: int, now: int) -> None:
        def tx(conn: sqlite3.Connection) -> None:
            if conn.execute("SELECT 1 FROM users WHERE user_id = ?", (user_id,)).fetchone() is None:
                raise UserNotFound(f"no user {user_id}")
            conn.execute(
                "INSERT INTO enrollment_codes (code_hash, user_id, expires_at, created_at)"
                " VALUES (?, ?, ?, ?)",
                (code_hash, user_id, expires_at, now),
            )

        await self._write(tx)

    async def enroll_device(
        self,
        *,
        code_hash: str,
        device_id: str,
        platform: str,
        app_version: str,
        refresh: RefreshGrant,
        now: int,
        replaces_device_id: str | None = None,
    ) -> DeviceRecord:
        def tx(conn: sqlite3.Connection) -> DeviceRecord:
            row = conn.execute(
                "SELECT user_id, expires_at, used_at FROM enrollment_codes WHERE code_hash = ?", (code_hash,)
            ).fetchone()
            if row is None:
                raise EnrollmentCodeInvalid()
            user_id, expires_at, used_at = row
            if used_at is not None:
                raise EnrollmentCodeUsed()
            if expires_at <= now:
                raise EnrollmentCodeExpired()
            lineage_id = device_id
            if replaces_device_id is not None:
                old = conn.execute(
                    "SELECT user_id, lineage_id FROM devices WHERE device_id = ?",
                    (replaces_device_id,),
                ).fetchone()
                if old is None or old[0] != user_id:
                    raise ReplacesDeviceInvalid()
                lineage_id = old[1]
                # A lineage has one live device: the replaced one (possibly revoked already by an
                # earlier re-enrollment whose reply was lost) and any such orphan stop here.
                members = conn.execute(
                    "SELECT device_id FROM devices WHERE lineage_id = ? AND revoked = 0", (lineage_id,)
                ).fetchall()
                for (member,) in members:
                    _revoke(conn, member, now)
            conn.execute(
                "UPDATE enrollment_codes SET used_at = ?, device_id = ? WHERE code_hash = ?",
                (now, device_id, code_hash),
            )
            conn.execute(
                "INSERT INTO devices (device_id, user_id, platform, app_version, created_at, last_seen_at,"
                " lineage_id, replaces_device_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (device_id, user_id, platform, app_version, now, now, lineage_id, replaces_device_id),
            )
            conn.execute(
                "INSERT INTO refresh_tokens (token_hash, device_id, issued_at, expires_at)"
                " VALUES (?, ?, ?, ?)",
                (refresh.token_hash, device_id, now, refresh.expires_at),
            )
            return DeviceRecord(
                device_id=device_id,
                user_id=user_id,
                platform=platform,
                app_version=app_version,
                last_seq=0,
                skew_ms=0,
                revoked=False,
                created_at=now,
                last_seen_at=now,
                lineage_id=lineage_id,
            )

        return await self._write(tx)

    # --- devices and refresh tokens ----------------------------------------------------

    async def get_device(self, device_id: str) -> DeviceRecord | None:
        def q(conn: sqlite3.Connection) -> DeviceRecord | None:
            row = conn.execute(
                f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE device_id = ?",  # noqa: S608 (constant columns)
                (device_id,),
            ).fetchone()
            return None if row is None else _device(row)

        return await self._run(q)

    async def list_devices(self, user_id: str | None = None) -> list[DeviceRecord]:
        def q(conn: sqlite3.Connection) -> list[DeviceRecord]:
            if user_id is None:
                rows = conn.execute(
                    f"SELECT {_DEVICE_COLUMNS} FROM devices ORDER BY created_at, device_id"  # noqa: S608
                )
            else:
                rows = conn.execute(
                    f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE user_id = ?"  # noqa: S608
                    " ORDER BY created_at, device_id",
                    (user_id,),
                )
            return [_device(r) for r in rows]

        return await self._run(q)

    async def revoke_device(self, device_id: str, now: int) -> DeviceRecord:
        def tx(conn: sqlite3.Connection) -> DeviceRecord:
            row = _revoke(conn, device_id, now)
            if row is None:
                raise DeviceNotFound(f"no device {device_id}")
            return _device(row)

        return await self._write(tx)

    async def rotate_refresh(
        self,
        *,
        device_id: str,
        presented_hash: str,
        successor: RefreshGrant,
        cached_successor: bytes,
        grace_ms: int,
        now: int,
    ) -> RotationOutcome:
        def tx(conn: sqlite3.Connection) -> RotationOutcome:
            device = conn.execute("SELECT revoked FROM devices WHERE device_id = ?", (device_id,)).fetchone()
            token = conn.execute(
                "SELECT expires_at, spent_at, replaced_by, successor, revoked_at FROM refresh_tokens"
                " WHERE token_hash = ? AND device_id = ?",
                (presented_hash, device_id),
            ).fetchone()
            if device is None or token is None:
                return RotationOutcome(kind=RotationKind.INVALID)
            if device[0]:
                return RotationOutcome(kind=RotationKind.DEVICE_REVOKED)
            expires_at, spent_at, replaced_by, cached, revoked_at = token
            if spent_at is None:
                if revoked_at is not None or expires_at <= now:
                    return RotationOutcome(kind=RotationKind.INVALID)
                # The predecessor's cached answer is useless once its successor is spent: drop it.
                conn.execute(
                    "UPDATE refresh_tokens SET successor = NULL"
                    " WHERE device_id = ? AND successor IS NOT NULL",
                    (device_id,),
                )
                conn.execute(
                    "UPDATE refresh_tokens SET spent_at = ?, replaced_by = ?, successor = ?"
                    " WHERE token_hash = ?",
                    (now, successor.token_hash, cached_successor, presented_hash),
                )
                conn.execute(
                    "INSERT INTO refresh_tokens (token_hash, device_id, issued_at, expires_at)"
                    " VALUES (?, ?, ?, ?)",
                    (successor.token_hash, device_id, now, successor.expires_at),
                )
                return RotationOutcome(kind=RotationKind.ROTATED)
            nxt = conn.execute(
                "SELECT spent_at, revoked_at, expires_at FROM refresh_tokens"
                " WHERE token_hash = ? AND device_id = ?",
                (replaced_by, device_id),
            ).fetchone()
            # The most recently spent token, whose successor nobody has used: the device most
            # likely never received the reply that carried the successor (a lost reply followed by
            # any time offline), so it gets that successor, not a revocation.
            successor_unused = nxt is not None and nxt[0] is None and nxt[1] is None
            if revoked_at is None and successor_unused and cached is not None:
                if nxt[2] <= now:
                    return RotationOutcome(kind=RotationKind.INVALID)  # the successor has expired
                if replaced_by != successor.token_hash:
                    # The derivation key changed since the rotation: the successor derived now is
                    # not the stored one. Nobody used the stored one, so it is re-keyed in place.
                    conn.execute(
                        "UPDATE refresh_tokens SET token_hash = ? WHERE token_hash = ?",
                        (successor.token_hash, replaced_by),
                    )
                    conn.execute(
                        "UPDATE refresh_tokens SET replaced_by = ? WHERE token_hash = ?",
                        (successor.token_hash, presented_hash),
                    )
                return RotationOutcome(
                    kind=RotationKind.REPLAYED,
                    cached_successor=bytes(cached),
                    reissue_access=now - spent_at > grace_ms,
                )
            # The successor was used (or the token is older still): a spent token coming back after
            # that may have been stolen, so nothing of this device's stays valid.
            conn.execute(
                "UPDATE refresh_tokens SET revoked_at = COALESCE(revoked_at, ?), successor = NULL"
                " WHERE device_id = ?",
                (now, device_id),
            )
            return RotationOutcome(kind=RotationKind.REUSED)

        return await self._write(tx)

    # --- sync --------------------------------------------------------------------------

    async def sync(
        self,
        *,
        device_id: str,
        items: Sequence[PushItem],
        skew_ms: int,
        after_version: int,
        pull_limit: int,
        now: int,
    ) -> SyncOutcome:
        def tx(conn: sqlite3.Connection) -> SyncOutcome:
            row = conn.execute(
                "SELECT d.user_id, d.last_seq, d.revoked, u.version, d.lineage_id"
                " FROM devices d JOIN users u ON u.user_id = d.user_id WHERE d.device_id = ?",
                (device_id,),
            ).fetchone()
            if row is None:
                raise DeviceNotFound(f"no device {device_id}")
            user_id, last_seq, revoked, version, lineage_id = row
            if revoked:
                raise DeviceRevoked()
            if after_version > version:
                raise InvalidCursorError("cursor is ahead of the user's change log")
            plan = plan_push(last_seq, [item.seq for item in items])
            # Under BEGIN IMMEDIATE no other writer runs: rows past this id are this push's.
            outbox_before = sqlite_outbox.last_outbox_id(conn)
            results: list[ItemResult] = []
            for step in plan.steps:
                item = items[step.index]
                if step.action is Action.DUPLICATE:
                    # Raises SeqConflict, which rolls this whole transaction back.
                    results.append(_resent(conn, device_id, item))
                else:
                    result = apply_mutation(
                        conn,
                        user_id,
                        device_id,
                        lineage_id,
                        item,
                        now,
                        skew_ms=skew_ms,
                        acceptance=self.acceptance,
                    )
                    results.append(result)
                    # OR REPLACE: a row at an unprocessed seq could only be left over from data
                    # restored from a backup; what is processed now is the truth.
                    conn.execute(
                        "INSERT OR REPLACE INTO mutation_digests"
                        " (device_id, seq, digest, status, code, detail) VALUES (?, ?, ?, ?, ?, ?)",
                        (device_id, item.seq, item.digest, result.status, result.code, result.detail),
                    )
            conn.execute(
                "UPDATE devices SET last_seq = ?, skew_ms = ?, last_seen_at = ? WHERE device_id = ?",
                (plan.last_seq, skew_ms, now, device_id),
            )
            # Read after the writes, in the same transaction: the page includes this push's changes.
            changes = [
                StoredChange(version=v, type=t, body=bytes(b))
                for v, t, b in conn.execute(
                    "SELECT version, type, body FROM change_log WHERE user_id = ? AND version > ?"
                    " ORDER BY version LIMIT ?",
                    (user_id, after_version, pull_limit + 1),
                )
            ]
            return SyncOutcome(
                last_seq=plan.last_seq,
                results=results,
                expected_seq=plan.expected_seq,
                changes=changes,
                outbox=sqlite_outbox.outbox_after(conn, outbox_before),
            )

        return await self._write(tx)

    # --- admin -------------------------------------------------------------------------

    async def append_notice(
        self, *, user_id: str, notice_id: str, kind: str, title: str, body: str, now: int
    ) -> int:
        def tx(conn: sqlite3.Connection) -> int:
            version = append_change(
                conn,
                user_id,
                lambda v: Notice(
                    version=v, notice_id=notice_id, kind=kind, title=title, body=body, created_at=now
                ),
                now,
            )
            conn.execute(
                "INSERT INTO notices (notice_id, user_id, version, kind, title, body, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (notice_id, user_id, version, kind, title, body, now),
            )
            return version

        return await self._write(tx)

    async def user_view(self, user_id: str) -> UserView:
        def q(conn: sqlite3.Connection) -> UserView:
            row = conn.execute(
                "SELECT user_id, external_ref, version, created_at FROM users WHERE user_id = ?", (user_id,)
            ).fetchone()
            if row is None:
                raise UserNotFound(f"no user {user_id}")
            notices = [
                NoticeRecord(
                    notice_id=r[0],
                    version=r[1],
                    kind=r[2],
                    title=r[3],
                    body=r[4],
                    created_at=r[5],
                    acked_at=r[6],
                )
                for r in conn.execute(
                    "SELECT notice_id, version, kind, title, body, created_at, acked_at FROM notices"
                    " WHERE user_id = ? ORDER BY version",
                    (user_id,),
                )
            ]
            aggregates = [
                self._aggregate(r)
                for r in conn.execute(
                    f"{self._AGGREGATE_SELECT} WHERE user_id = ? ORDER BY device_id, seq",
                    (user_id,),
                )
            ]
            devices = [
                _device(r)
                for r in conn.execute(
                    f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE user_id = ?"  # noqa: S608
                    " ORDER BY created_at, device_id",
                    (user_id,),
                )
            ]
            return UserView(
                user=_user(row),
                consent=consent_map(conn, user_id),
                notices=notices,
                offers=sqlite_offers.list_offers(conn, user_id),
                profile=sqlite_offers.get_profile(conn, user_id),
                aggregates=aggregates,
                devices=devices,
            )

        return await self._read(q)

    # --- credit profiles and offers ----------------------------------------------------

    async def set_profile(
        self, profile: ProfileRecord, *, actor: str, reason_code: str, ref: str | None = None
    ) -> int:
        return await self._write(
            lambda conn: sqlite_offers.set_profile(
                conn, profile, actor=actor, reason_code=reason_code, ref=ref
            )
        )

    async def get_profile(self, user_id: str) -> ProfileRecord | None:
        return await self._run(lambda conn: sqlite_offers.get_profile(conn, user_id))

    async def create_offer(
        self, terms: OfferTerms, *, actor: str, ref: str | None = None, now: int
    ) -> OfferRecord:
        return await self._write(
            lambda conn: sqlite_offers.create_offer(conn, terms, actor=actor, ref=ref, now=now)
        )

    async def create_offer_and_ping(
        self, terms: OfferTerms, *, actor: str, ref: str | None = None, now: int
    ) -> OfferCreated:
        return await self._write(
            lambda conn: sqlite_credit.create_offer_and_ping(conn, terms, actor=actor, ref=ref, now=now)
        )

    async def withdraw_offer(
        self, offer_id: str, *, actor: str, reason_code: str, ref: str | None = None, now: int
    ) -> OfferRecord:
        return await self._write(
            lambda conn: sqlite_offers.withdraw_offer(
                conn, offer_id, actor=actor, reason_code=reason_code, ref=ref, now=now
            )
        )

    async def get_offer(self, offer_id: str) -> OfferRecord | None:
        return await self._run(lambda conn: sqlite_offers.get_offer(conn, offer_id))

    async def list_offers(self, user_id: str) -> list[OfferRecord]:
        def q(conn: sqlite3.Connection) -> list[OfferRecord]:
            if conn.execute("SELECT 1 FROM users WHERE user_id = ?", (user_id,)).fetchone() is None:
                raise UserNotFound(f"no user {user_id}")
            return sqlite_offers.list_offers(conn, user_id)

        return await self._read(q)

    async def audit_trail(
        self, *, user_id: str | None = None, offer_id: str | None = None
    ) -> list[AuditRecord]:
        if (user_id is None) == (offer_id is None):
            raise ValueError("give exactly one of user_id and offer_id")
        return await self._run(
            lambda conn: sqlite_offers.audit_trail(conn, user_id=user_id, offer_id=offer_id)
        )

    async def list_outbox(self) -> list[OutboxRecord]:
        return await self._read(lambda conn: sqlite_outbox.outbox_after(conn, 0))

    async def apply_offer(self, outbox_id: int, *, ref: str, now: int) -> ApplyOutcome:
        hook = self.fault_hook
        return await self._write(
            lambda conn: sqlite_outbox.apply_offer(conn, outbox_id, ref=ref, now=now, fault_hook=hook)
        )

    async def outbox_children(self, parent_id: int) -> list[OutboxRecord]:
        return await self._read(lambda conn: sqlite_outbox.pending_children(conn, parent_id))

    async def push_plan(self, outbox_id: int, *, claim_at: int | None = None) -> PushPlan | None:
        def q(conn: sqlite3.Connection) -> PushPlan | None:
            row = sqlite_outbox.get_outbox(conn, outbox_id)
            if row is None or row.state != OutboxState.PENDING.value or row.kind != SEND_PUSH:
                return None
            if claim_at is not None:
                conn.execute("UPDATE outbox SET updated_at = ? WHERE outbox_id = ?", (claim_at, outbox_id))
            plan = sqlite_push.push_plan(conn, row)
            (not_before,) = conn.execute(
                "SELECT not_before FROM outbox WHERE outbox_id = ?", (outbox_id,)
            ).fetchone()
            return msgspec.structs.replace(plan, not_before=not_before)

        return await (self._read(q) if claim_at is None else self._write(q))

    async def record_push(
        self,
        outbox_id: int,
        *,
        user_id: str,
        sender: str,
        sent: Sequence[tuple[PushTarget, PushMessage, PushResult]],
        attempt: int,
        retry_at: int,
        now: int,
    ) -> OutboxState:
        def tx(conn: sqlite3.Connection) -> OutboxState:
            row = sqlite_outbox.get_outbox(conn, outbox_id)
            if row is None or row.state != OutboxState.PENDING.value:
                return OutboxState.DONE if row is None else OutboxState(row.state)
            return sqlite_push.record_push(
                conn,
                row,
                user_id=user_id,
                sender=sender,
                sent=sent,
                attempt=attempt,
                retry_at=retry_at,
                now=now,
            )

        return await self._write(tx)

    async def skip_push(self, outbox_id: int, reason: PushOutcome, now: int) -> None:
        def tx(conn: sqlite3.Connection) -> None:
            row = sqlite_outbox.get_outbox(conn, outbox_id)
            if row is not None and row.state == OutboxState.PENDING.value:
                sqlite_push.skip_push(conn, row, reason, now)

        await self._write(tx)

    async def push_attempts(self, user_id: str) -> list[PushAttemptRecord]:
        return await self._read(lambda conn: sqlite_push.push_attempts(conn, user_id))

    async def relay_outbox(self, *, now: int, timeout_ms: int, max_attempts: int) -> RelayOutcome:
        return await self._write(
            lambda conn: sqlite_outbox.relay_outbox(
                conn, now=now, timeout_ms=timeout_ms, max_attempts=max_attempts
            )
        )

    async def expire_offers(self, *, now: int, limit: int) -> list[OfferRecord]:
        grace_ms = self.acceptance.grace_ms
        return await self._write(
            lambda conn: sqlite_offers.expire_offers(conn, now=now, grace_ms=grace_ms, limit=limit)
        )

    async def outbox_stats(self, *, now: int) -> OutboxStats:
        return await self._read(lambda conn: sqlite_outbox.outbox_stats(conn, now))

    async def dead_letters(self, *, limit: int, after_id: int = 0) -> list[DeadLetterRecord]:
        return await self._read(lambda conn: sqlite_outbox.dead_letters(conn, limit=limit, after_id=after_id))

    async def retry_dead(self, outbox_id: int, *, now: int) -> OutboxRecord:
        return await self._write(lambda conn: sqlite_outbox.retry_dead(conn, outbox_id, now=now))

    # --- analytics (read-only) ---------------------------------------------------------

    _AGGREGATE_SELECT: Final = (
        "SELECT device_id, seq, day, tz_offset_min, window_bucket, levels, mechanism,"
        " model_version, created_at, received_at, lineage_id FROM aggregates"
    )

    @staticmethod
    def _aggregate(r: Sequence[Any]) -> AggregateRecord:
        return AggregateRecord(
            device_id=r[0],
            lineage_id=r[10],
            seq=r[1],
            day=r[2],
            tz_offset_min=r[3],
            window_bucket=r[4],
            levels=msgspec.json.decode(r[5]),
            mechanism=msgspec.json.decode(r[6]),
            model_version=r[7],
            created_at=r[8],
            received_at=r[9],
        )

    async def user_aggregates(self, user_id: str, first_day: str, last_day: str) -> list[AggregateRecord]:
        def q(conn: sqlite3.Connection) -> list[AggregateRecord]:
            # ISO dates compare correctly as text; the user index narrows the scan to one user.
            rows = conn.execute(
                f"{self._AGGREGATE_SELECT} WHERE user_id = ? AND day >= ? AND day <= ?"
                " ORDER BY day, device_id",
                (user_id, first_day, last_day),
            )
            return [self._aggregate(r) for r in rows]

        return await self._run(q)

    async def aggregates_between(self, first_day: str, last_day: str) -> list[AggregateRecord]:
        def q(conn: sqlite3.Connection) -> list[AggregateRecord]:
            rows = conn.execute(
                f"{self._AGGREGATE_SELECT} WHERE day >= ? AND day <= ? ORDER BY day, device_id",
                (first_day, last_day),
            )
            return [self._aggregate(r) for r in rows]

        return await self._run(q)

    # --- credit evaluation ---------------------------------------------------------------

    async def set_credit_features(self, features: CreditFeaturesRecord) -> None:
        await self._write(lambda conn: sqlite_credit.set_credit_features(conn, features))

    async def get_credit_features(self, user_id: str) -> CreditFeaturesRecord | None:
        return await self._run(lambda conn: sqlite_credit.get_credit_features(conn, user_id))

    async def request_evaluation(
        self, user_id: str, evaluation_id: str, *, trigger: str, day: str, now: int
    ) -> EvaluationRequested:
        return await self._write(
            lambda conn: sqlite_credit.request_evaluation(
                conn, user_id, evaluation_id, trigger=trigger, day=day, now=now
            )
        )

    async def request_daily_evaluations(
        self, *, day: str, now: int, recent_ms: int, limit: int, new_id: Callable[[], str]
    ) -> list[EvaluationRequested]:
        return await self._write(
            lambda conn: sqlite_credit.request_daily_evaluations(
                conn, day=day, now=now, recent_ms=recent_ms, limit=limit, new_id=new_id
            )
        )

    async def get_evaluation(self, evaluation_id: str) -> EvaluationRecord | None:
        return await self._run(lambda conn: sqlite_credit.get_evaluation(conn, evaluation_id))

    async def list_evaluations(self, user_id: str | None = None) -> list[EvaluationRecord]:
        return await self._read(lambda conn: sqlite_credit.list_evaluations(conn, user_id))

    async def evaluation_inputs(self, outbox_id: int) -> EvaluationInputs | None:
        return await self._read(lambda conn: sqlite_credit.evaluation_inputs(conn, outbox_id))

    async def complete_evaluation(
        self,
        outbox_id: int,
        *,
        status: EvaluationState,
        result: bytes,
        terms: OfferTerms | None,
        read: EvaluationInputs,
        announcement: PushPayload | None,
        announce_not_before: int | None,
        actor: str,
        ref: str,
        now: int,
    ) -> EvaluationCompleted:
        return await self._write(
            lambda conn: sqlite_credit.complete_evaluation(
                conn,
                outbox_id,
                status=status,
                result=result,
                terms=terms,
                read=read,
                announcement=announcement,
                announce_not_before=announce_not_before,
                actor=actor,
                ref=ref,
                now=now,
            )
        )


async def open_sqlite_store(
    path: Path,
    *,
    acceptance: AcceptanceRule | None = None,
    fault_hook: Callable[[str], None] | None = None,
) -> SqliteStore:
    """Open (creating if needed) the SQLite store at ``path``; call ``migrate()`` next.

    ``acceptance`` is the offline-acceptance rule (default :class:`AcceptanceRule`); ``fault_hook``
    is for fault tests only (:mod:`cloud.faults`).
    """
    return await SqliteStore(path, acceptance=acceptance, fault_hook=fault_hook).open()
