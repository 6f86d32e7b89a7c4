"""The admin lists, paged by key (:mod:`cloud.domain.admin.paging`), and a user's timeline.

Each list reads ``limit + 1`` rows ordered by its key descending, from below the ``after`` key when
one is given; the extra row tells the caller whether there is a next page. Row-value comparisons
(``(a, b) < (?, ?)``) are the same in SQLite and PostgreSQL, and the indexes of migration
``0014_admin_lists`` serve them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final, TypeVar

from cloud.domain.admin.paging import Key
from cloud.store.errors import UserNotFound
from cloud.store.records import (
    DeviceRecord,
    EvaluationRecord,
    FleetCounts,
    OfferRecord,
    OutboxRecord,
    RecentActivity,
    ReviewRecord,
    TimelineEntry,
    UserRecord,
)
from cloud.store.scripts.credit import EVALUATION_SELECT, evaluation_record
from cloud.store.scripts.devices import DEVICE_COLUMNS, device_record, user_record
from cloud.store.scripts.offers import OFFER_COLUMNS, offer_record
from cloud.store.scripts.outbox_rows import OUTBOX_COLUMNS, outbox_record
from cloud.store.scripts.review_requests import REVIEW_COLUMNS, review_record
from cloud.store.tx import Tx

R = TypeVar("R")

Filter = tuple[str, Any]
"""A condition with one ``?`` and its value; ``None`` values are left out (no filter)."""


def _page(
    tx: Tx,
    select: str,
    filters: Sequence[Filter],
    order: Sequence[str],
    after: Key | None,
    limit: int,
    record: Callable[[Sequence[Any]], R],
    select_params: Sequence[Any] = (),
) -> list[R]:
    conditions = [clause for clause, value in filters if value is not None]
    params: list[Any] = [*select_params, *(value for _, value in filters if value is not None)]
    if after is not None:
        conditions.append(f"({', '.join(order)}) < ({', '.join('?' * len(order))})")
        params.extend(after)
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    sql = f"{select}{where} ORDER BY {', '.join(f'{c} DESC' for c in order)} LIMIT ?"
    return [record(r) for r in tx.execute(sql, (*params, limit + 1))]


def users(tx: Tx, *, external_ref: str | None, after: Key | None, limit: int) -> list[UserRecord]:
    select = "SELECT user_id, external_ref, version, created_at, erased_at FROM users"
    filters = [("external_ref = ?", external_ref)]
    return _page(tx, select, filters, ("created_at", "user_id"), after, limit, user_record)


def reviews(tx: Tx, *, status: str | None, after: Key | None, limit: int) -> list[ReviewRecord]:
    select = f"SELECT {REVIEW_COLUMNS} FROM review_requests"  # noqa: S608 (constant columns)
    return _page(
        tx, select, [("status = ?", status)], ("created_at", "review_id"), after, limit, review_record
    )


def devices(
    tx: Tx,
    *,
    user_id: str | None,
    platform: str | None,
    revoked: bool | None,
    after: Key | None,
    limit: int,
) -> list[DeviceRecord]:
    select = f"SELECT {DEVICE_COLUMNS} FROM devices"  # noqa: S608 (constant columns)
    filters = [
        ("user_id = ?", user_id),
        ("platform = ?", platform),
        ("revoked = ?", None if revoked is None else int(revoked)),
    ]
    return _page(tx, select, filters, ("created_at", "device_id"), after, limit, device_record)


def offers(
    tx: Tx, *, status: str | None, user_id: str | None, after: Key | None, limit: int
) -> list[OfferRecord]:
    select = f"SELECT {OFFER_COLUMNS} FROM offers"  # noqa: S608 (constant columns)
    filters = [("status = ?", status), ("user_id = ?", user_id)]
    return _page(tx, select, filters, ("created_at", "offer_id"), after, limit, offer_record)


def evaluations(
    tx: Tx, *, status: str | None, user_id: str | None, after: Key | None, limit: int
) -> list[EvaluationRecord]:
    filters = [("e.status = ?", status), ("e.user_id = ?", user_id)]
    order = ("e.created_at", "e.evaluation_id")
    return _page(tx, EVALUATION_SELECT, filters, order, after, limit, evaluation_record)


def outbox(
    tx: Tx, *, kind: str | None, state: str | None, after: Key | None, limit: int
) -> list[OutboxRecord]:
    select = f"SELECT {OUTBOX_COLUMNS} FROM outbox"  # noqa: S608 (constant columns)
    filters = [("kind = ?", kind), ("state = ?", state)]
    return _page(tx, select, filters, ("outbox_id",), after, limit, outbox_record)


TIMELINE_KINDS: Final = (
    "device_enrolled",
    "device_revoked",
    "device_seen",
    "consent",
    "aggregate",
    "notice",
    "evaluation",
    "audit",
    "push",
    "seqs_lost",
)
"""What a timeline shows. ``device_seen`` is a device's latest sync: the store keeps no row per
sync (that would be a write more on the hot path), so earlier syncs show through what they carried
(aggregates, consents, offer decisions in the audit)."""

# One SELECT per kind, each with one ``?`` for the user; every column is text but ``at``. The
# summaries carry statuses, days and outcomes, never a notice's or a push's text.
_TIMELINE_PARTS: Final = (
    "SELECT created_at AS at, 'device_enrolled' AS kind, device_id AS ref, platform AS summary"
    " FROM devices WHERE user_id = ?",
    "SELECT revoked_at, 'device_revoked', device_id, platform FROM devices"
    " WHERE user_id = ? AND revoked_at IS NOT NULL",
    "SELECT last_seen_at, 'device_seen', device_id, 'last_seq ' || CAST(last_seq AS TEXT)"
    " FROM devices WHERE user_id = ?",
    "SELECT created_at, 'consent', CAST(version AS TEXT), 'consent state changed'"
    " FROM change_log WHERE user_id = ? AND type = 'ConsentState'",
    "SELECT received_at, 'aggregate', device_id || ':' || CAST(seq AS TEXT), 'day ' || day"
    " FROM aggregates WHERE user_id = ?",
    "SELECT created_at, 'notice', notice_id, kind FROM notices WHERE user_id = ?",
    "SELECT created_at, 'evaluation', evaluation_id, status || ' (' || trigger || ')'"
    " FROM evaluations WHERE user_id = ?",
    "SELECT at, 'audit', COALESCE(offer_id, 'profile') || ':' || CAST(audit_id AS TEXT),"
    " COALESCE(from_status, '-') || ' -> ' || COALESCE(to_status, '-') || ' ' || reason_code"
    " || ' by ' || actor FROM offer_audit WHERE user_id = ?",
    "SELECT at, 'push', CAST(attempt_id AS TEXT), sender || ' ' || outcome"
    " || COALESCE(' ' || error_code, '') FROM push_attempts WHERE user_id = ?",
    "SELECT at, 'seqs_lost', device_id || ':' || CAST(MIN(seq) AS TEXT), 'seqs ' || CAST(MIN(seq) AS TEXT)"
    " || '-' || CAST(MAX(seq) AS TEXT) || ' lost by the server, filled by the device'"
    " FROM lost_seqs WHERE user_id = ? GROUP BY device_id, at",
)


def _timeline_entry(r: Sequence[Any]) -> TimelineEntry:
    return TimelineEntry(at=r[0], kind=r[1], ref=r[2], summary=r[3])


def timeline(tx: Tx, user_id: str, *, after: Key | None, limit: int) -> list[TimelineEntry]:
    """The user's events, newest first, keyed by (at, kind, ref)."""
    if tx.execute("SELECT 1 FROM users WHERE user_id = ?", (user_id,)).fetchone() is None:
        raise UserNotFound(f"no user {user_id}")
    select = f"SELECT at, kind, ref, summary FROM ({' UNION ALL '.join(_TIMELINE_PARTS)}) events"  # noqa: S608
    order = ("at", "kind", "ref")
    per_part = (user_id,) * len(_TIMELINE_PARTS)
    return _page(tx, select, [], order, after, limit, _timeline_entry, select_params=per_part)


HOUR_MS: Final = 3_600_000


def fleet_counts(tx: Tx, now: int) -> FleetCounts:
    """Devices seen in the last hour and day, offers by status (indexes of ``0014_admin_lists``)."""
    seen = tx.execute(
        "SELECT COALESCE(SUM(CASE WHEN last_seen_at >= ? THEN 1 ELSE 0 END), 0), COUNT(*)"
        " FROM devices WHERE last_seen_at >= ?",
        (now - HOUR_MS, now - 24 * HOUR_MS),
    ).fetchone()
    offers = {str(r[0]): int(r[1]) for r in tx.execute("SELECT status, COUNT(*) FROM offers GROUP BY status")}
    (reviews,) = tx.execute("SELECT COUNT(*) FROM review_requests WHERE status = 'open'").fetchone()
    return FleetCounts(
        devices_seen_1h=int(seen[0]),
        devices_seen_24h=int(seen[1]),
        offers_by_status=offers,
        open_reviews=int(reviews),
    )


MAX_RECENT_RESULTS: Final = 5000


def recent_activity(tx: Tx, since: int) -> RecentActivity:
    """Pushes by outcome and done evaluations' results since ``since`` (indexes of ``0014``)."""
    pushes = {
        str(r[0]): int(r[1])
        for r in tx.execute(
            "SELECT outcome, COUNT(*) FROM push_attempts WHERE at >= ? GROUP BY outcome", (since,)
        )
    }
    results = [
        r[0].encode() if isinstance(r[0], str) else bytes(r[0])
        for r in tx.execute(
            "SELECT result FROM evaluations WHERE updated_at >= ? AND status = 'done' AND result IS NOT NULL"
            " ORDER BY updated_at DESC LIMIT ?",
            (since, MAX_RECENT_RESULTS),
        )
    ]
    return RecentActivity(pushes_by_outcome=pushes, evaluation_results=results)
