"""The money invariants of a chaos run, read through the store interface once its outbox drained.

The harness waits until none of the schedule's outbox rows is ``pending`` (the run's worker backs
off only a fraction of a second after an FCM 429), syncs every device again, then checks, for
every user of the schedule:

Every accepted offer applied exactly once
    An offer whose audit trail ever reached ``accepted`` has exactly one ``applied`` event (or,
    when another offer of the user was applied first, exactly one ``failed`` event with reason
    ``base_changed``) and exactly one ``apply_offer`` outbox row, ``done``; an offer that never
    reached ``accepted`` has neither. No offer is left ``accepted``, and none ends ``failed`` for
    another reason: a dead-lettered row would, and the run's worker gets far more attempts than
    its faults can use up. Every answer a device sent is judged by the result the server recorded
    for its seq: applied, with exactly one audit event of that device under its seq (``accepted``
    or ``declined``), or refused ``offer_not_open`` while another answer or a withdrawal closed the
    offer. Either way the device heard that result (a refusal whose reply was lost is answered
    again, as a replay, on the resend); no audit event names an answer nobody sent.

Every applied offer notified at least once
    The ``limit_applied:{offer_id}`` notice exists (the mirror check shows every device got it).
    A ``send_push`` row names it if and only if the user had the ``push`` consent as of the
    apply: the last ``ConsentState`` in the user's change log before the notice's own version.
    Every push row of the user (notices and sync pings alike) ends ``done``, no attempt ends
    ``failed``, and a token FCM answered ``retry`` (429) was tried again by the row, or the row
    made a later attempt (which finds nothing to send if the token was replaced or deactivated).
    A row finished ``no_consent`` needs a revoke of ``push`` logged after its notice (an earlier
    attempt may have reached some tokens before it). Any other row reached, with a ``sent``
    attempt the fake FCM recorded, every token the device had registered before the row was
    made and that was still the device's active token at the end: the harness notes when a
    device first saw its ``RegisterPushToken`` acknowledged, and only tokens acknowledged before
    the row was created count, so a token registered while the push was in flight is not
    required. Only a token the FCM 404 fault armed may be deactivated; it then stays inactive,
    its row does not try it again, and no row made after that tries it at all.

The profile equals the sum of its audit events
    Replaying the user's audit trail in order (a ``profile_set`` event sets the profile to its
    detail; an offer's ``applied`` event sets the limit and rate to the offer's terms; the
    profile event the apply writes must agree with the replay so far) gives the stored profile
    and the admin view's, field by field. Every applied offer's pre-apply limit and rate (the
    replay just before its ``applied`` event) equal the base it recorded when it was made, and its
    post-apply values equal its terms; an offer failed ``base_changed`` was failed on a profile that
    had really left its base.

The records are read with the server's :class:`cloud.store.Store` methods (``server.read``), so the
same checks hold on SQLite and on PostgreSQL. They are read one method at a time, not in one
transaction: by then the run has settled (none of its outbox rows is pending, its devices are
quiet), and nothing else writes a schedule's users.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

from cloud.store import Store
from cloud.store.records import OutboxRecord
from sync.codec import decode_change
from sync.messages import ConsentScope, ConsentState, Notice
from tests.support.live_server import LiveServer

MONEY_FIELDS = ("currency", "limit_cents", "used_cents", "rate_bps")
"""The profile fields the replay rebuilds (``updated_at`` is when, not what)."""

DEACTIVATE_MARGIN_MS = 500
"""Slack between a deactivation's recorded time and its commit, which may wait for the write lock."""

NO_CONSENT = "no_consent"
"""``last_error`` of a push row the job finished without sending (no consent any more)."""


@dataclass(frozen=True, slots=True)
class Audit:
    audit_id: int
    offer_id: str | None
    to_status: str | None
    actor: str
    reason_code: str
    ref: str | None
    detail: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class OutboxRow:
    outbox_id: int
    kind: str
    payload: dict[str, Any]
    state: str
    attempts: int
    last_error: str | None
    created_at: int


@dataclass(frozen=True, slots=True)
class Attempt:
    outbox_id: int
    attempt: int
    device_id: str
    token: str
    outcome: str
    at: int


@dataclass(frozen=True, slots=True)
class Token:
    token: str
    active: bool


@dataclass(slots=True)
class DeviceFacts:
    """What the harness knows about one device's answers and push tokens."""

    device_id: str
    answers: dict[int, tuple[str, str]]
    """Seq of every answer the device queued: (offer id, ``accept`` or ``decline``)."""
    refused: dict[int, str | None]
    """Seq → reason code of every mutation the server refused, as the device recorded them."""
    tokens: list[str]
    """Tokens the device registered, oldest first (the last one is its token after the final sync)."""
    token_acked_at: dict[str, int]
    """Token → when (ms) the harness first saw its ``RegisterPushToken`` acknowledged."""


@dataclass(slots=True)
class UserRecords:
    """One user's records, as the store holds them."""

    offers: dict[str, dict[str, Any]]
    audit: list[Audit]
    outbox: list[OutboxRow]
    attempts: list[Attempt]
    tokens: dict[str, Token]
    """By device id."""
    consent: list[tuple[int, bool]]
    """(version, push granted) of every ``ConsentState`` in the user's change log, in order."""
    notice_versions: dict[str, int] = field(default_factory=dict)
    """Version of the first ``Notice`` change of every notice id."""
    profile: dict[str, Any] | None = None
    results: dict[tuple[str, int], tuple[str | None, str | None]] = field(default_factory=dict)
    """(device id, seq) → (status, code): the result the server recorded when it processed it."""


def outbox_high_water(server: LiveServer, seen: int = 0) -> int:
    """The highest outbox id so far (rows above it are the next schedule's); ``seen`` is a
    high-water mark read before, so only the rows since are read."""
    rows = server.read(lambda store: store.list_outbox(after_id=seen))
    return max((r.outbox_id for r in rows), default=seen)


def _rows_of(rows: list[OutboxRecord], user_ids: set[str], offer_ids: set[str]) -> list[OutboxRow]:
    found = []
    for r in rows:
        payload = msgspec.json.decode(r.payload, type=dict[str, Any])
        if payload.get("user_id") in user_ids or payload.get("offer_id") in offer_ids:
            found.append(
                OutboxRow(r.outbox_id, r.kind, payload, r.state, r.attempts, r.last_error, r.created_at)
            )
    return found


def pending_rows(server: LiveServer, since: int, user_ids: set[str], offer_ids: set[str]) -> list[OutboxRow]:
    """The schedule's outbox rows (ids above ``since``) still ``pending``."""
    rows = server.read(lambda store: store.list_outbox(after_id=since))
    return [r for r in _rows_of(rows, user_ids, offer_ids) if r.state == "pending"]


def read_user(server: LiveServer, user_id: str, since: int) -> UserRecords:
    """Every record of ``user_id`` the invariants read (outbox rows above ``since`` only)."""
    return server.read(lambda store: read_records(store, user_id, since))


async def read_records(store: Store, user_id: str, since: int) -> UserRecords:
    offers = {
        o.offer_id: {
            "status": o.status,
            "new_limit_cents": o.new_limit_cents,
            "rate_bps": o.rate_bps,
            "base_limit_cents": o.current_limit_cents,
            "base_rate_bps": o.base_rate_bps,
        }
        for o in await store.list_offers(user_id)
    }
    audit = [
        Audit(a.audit_id, a.offer_id, a.to_status, a.actor, a.reason_code, a.ref, a.detail)
        for a in await store.audit_trail(user_id=user_id)
    ]
    outbox = _rows_of(await store.list_outbox(after_id=since), {user_id}, set(offers))
    attempts = [
        Attempt(a.outbox_id, a.attempt, a.device_id, a.token, a.outcome, a.at)
        for a in await store.push_attempts(user_id)
    ]
    tokens = {t.device_id: Token(t.token, t.active) for t in await store.push_tokens(user_id)}
    records = UserRecords(offers, audit, outbox, attempts, tokens, consent=[])
    for stored in await store.change_log(user_id):
        if stored.type not in ("ConsentState", "Notice"):
            continue
        change = decode_change(stored.body)
        if isinstance(change, ConsentState):
            records.consent.append((stored.version, change.scopes.get(ConsentScope.PUSH) is True))
        elif isinstance(change, Notice):
            records.notice_versions.setdefault(change.notice_id, stored.version)
    for device in await store.list_devices(user_id):
        for kept in await store.processed_mutations(device.device_id):
            records.results[(device.device_id, kept.seq)] = (kept.status, kept.code)
    profile = await store.get_profile(user_id)
    records.profile = None if profile is None else {name: getattr(profile, name) for name in MONEY_FIELDS}
    return records


# --- the invariants ---------------------------------------------------------------------------


def check_user(
    records: UserRecords,
    view: dict[str, Any],
    devices: list[DeviceFacts],
    *,
    unregistered: set[str],
    fcm_sent: dict[str, set[str]],
) -> list[str]:
    """Every violation of the three invariants for one user (an empty list when they hold).

    ``fcm_sent`` maps each token to the notice ids the fake FCM received for it.
    """
    return [
        *check_applied_once(records, devices),
        *check_notified(records, view, devices, unregistered=unregistered, fcm_sent=fcm_sent),
        *check_profile(records, view),
    ]


def check_applied_once(records: UserRecords, devices: list[DeviceFacts]) -> list[str]:
    found: list[str] = []
    trails: dict[str, list[Audit]] = {}
    for event in records.audit:
        if event.offer_id is not None:
            trails.setdefault(event.offer_id, []).append(event)
    for offer_id, offer in records.offers.items():
        trail = [e.to_status for e in trails.get(offer_id, [])]
        rows = [
            r for r in records.outbox if r.kind == "apply_offer" and r.payload.get("offer_id") == offer_id
        ]
        where = f"offer {offer_id} ({' -> '.join(map(str, trail))})"
        if not trail or trail[0] != "offered" or trail[-1] != offer["status"]:
            found.append(f"{where}: status {offer['status']} does not match its audit trail")
        failures = [e.reason_code for e in trails.get(offer_id, []) if e.to_status == "failed"]
        if offer["status"] == "accepted" or failures not in ([], ["base_changed"]):
            found.append(f"{where}: ends {offer['status']} ({failures})")
        if "accepted" in trail:
            # Applied once, or failed once because the profile had left the offer's base.
            if trail.count("accepted") != 1 or trail.count("applied") + trail.count("failed") != 1:
                found.append(
                    f"{where}: accepted {trail.count('accepted')}x, applied {trail.count('applied')}x,"
                    f" failed {trail.count('failed')}x"
                )
            if [r.state for r in rows] != ["done"]:
                found.append(f"{where}: apply_offer rows {[(r.outbox_id, r.state) for r in rows]}")
        elif "applied" in trail or rows:
            found.append(
                f"{where}: applied or queued without an acceptance: rows {[r.outbox_id for r in rows]}"
            )
    found += _check_answers(records, trails, devices)
    return found


def _check_answers(
    records: UserRecords, trails: dict[str, list[Audit]], devices: list[DeviceFacts]
) -> list[str]:
    found: list[str] = []
    sent: set[tuple[str, str]] = set()
    for device in devices:
        actor = f"device:{device.device_id}"
        for seq, (offer_id, kind) in device.answers.items():
            ref = f"seq:{seq}"
            sent.add((actor, ref))
            events = [e for e in trails.get(offer_id, []) if e.actor == actor and e.ref == ref]
            wanted = "accepted" if kind == "accept" else "declined"
            # Judged by the outcome the server recorded, which the device must have heard too: a
            # refusal whose reply was lost comes back as a replay on the resend.
            server = records.results.get((device.device_id, seq))
            where = f"{actor} {kind} seq {seq} of {offer_id}"
            if server is None:
                found.append(f"{where}: the server recorded no result")
                continue
            heard = device.refused.get(seq)
            if server[0] == "rejected":
                status = records.offers.get(offer_id, {}).get("status")
                if events or server[1] != "offer_not_open" or status == "offered":
                    found.append(
                        f"{where} refused {server[1]} with {len(events)} audit event(s), offer now {status}"
                    )
                if seq not in device.refused or heard != server[1]:
                    found.append(f"{where}: the server refused it ({server[1]}), the device heard {heard!r}")
            elif seq in device.refused:
                found.append(
                    f"{where}: the server recorded {server[0]}, the device heard a refusal ({heard})"
                )
            elif [e.to_status for e in events] != [wanted]:
                found.append(f"{where}: audit events {[e.to_status for e in events]}")
    for event in records.audit:
        if event.actor.startswith("device:") and (event.actor, event.ref) not in sent:
            found.append(f"audit event {event.audit_id} ({event.to_status}) names an answer nobody sent")
    return found


def _consent_before(records: UserRecords, version: int) -> bool:
    granted = False
    for at, push in records.consent:
        if at >= version:
            break
        granted = push
    return granted


def check_notified(
    records: UserRecords,
    view: dict[str, Any],
    devices: list[DeviceFacts],
    *,
    unregistered: set[str],
    fcm_sent: dict[str, set[str]],
) -> list[str]:
    found: list[str] = []
    notices = {n["notice_id"]: n for n in view["notices"]}
    push_rows = [r for r in records.outbox if r.kind == "send_push"]
    for offer_id, offer in records.offers.items():
        if offer["status"] != "applied":
            continue
        notice_id = f"limit_applied:{offer_id}"
        version = records.notice_versions.get(notice_id)
        if notice_id not in notices or notices[notice_id]["kind"] != "limit_applied" or version is None:
            found.append(f"applied offer {offer_id}: no limit_applied notice")
            continue
        consent = _consent_before(records, version)
        rows = [r for r in push_rows if r.payload.get("notice_id") == notice_id]
        if len(rows) != int(consent):
            found.append(f"{notice_id}: {len(rows)} push row(s) with push consent {consent} at the apply")
    acked_at = {t: at for d in devices for t, at in d.token_acked_at.items()}
    by_device = {d.device_id: d for d in devices}
    for row in push_rows:
        found += _check_push_row(records, row, by_device, acked_at, unregistered, fcm_sent)
    for device in devices:
        found += _check_tokens(records, device, unregistered)
    return found


def _check_push_row(
    records: UserRecords,
    row: OutboxRow,
    devices: dict[str, DeviceFacts],
    acked_at: dict[str, int],
    unregistered: set[str],
    fcm_sent: dict[str, set[str]],
) -> list[str]:
    notice_id = row.payload.get("notice_id")
    where = f"push row {row.outbox_id} ({notice_id or 'sync ping'})"
    attempts = [a for a in records.attempts if a.outbox_id == row.outbox_id]
    found: list[str] = []
    if row.state != "done":
        found.append(f"{where}: {row.state} ({row.last_error})")
    for index, a in enumerate(attempts):
        if a.outcome == "failed":
            found.append(f"{where}: attempt {a.attempt} to {a.token} failed")
        # ``attempt`` is the row's count when the answer was recorded (the relay may have counted
        # the next one already); a later attempt may find nothing left to send (the token
        # deactivated or replaced meanwhile) and record nothing.
        retried = row.attempts > a.attempt or any(b.token == a.token for b in attempts[index + 1 :])
        if a.outcome == "retry" and not retried:
            found.append(f"{where}: FCM asked to retry {a.token} at attempt {a.attempt}; never retried")
        if a.outcome == "sent" and notice_id is not None and notice_id not in fcm_sent.get(a.token, set()):
            found.append(f"{where}: recorded sent to {a.token}, the fake FCM never got it")
        if a.outcome == "deactivate":
            if a.token not in unregistered:
                found.append(f"{where}: deactivated {a.token}, which FCM never refused")
            if any(b.token == a.token and b.attempt > a.attempt for b in attempts):
                found.append(f"{where}: tried the deactivated {a.token} again")
    for token in unregistered:
        dead_at = [a.at for a in records.attempts if a.token == token and a.outcome == "deactivate"]
        # A row made after the deactivation committed cannot plan the token; the margin covers
        # the commit following ``at``.
        late = bool(dead_at) and row.created_at > min(dead_at) + DEACTIVATE_MARGIN_MS
        if late and any(a.token == token for a in attempts):
            found.append(f"{where}: sent to {token}, deactivated before the row was made")
    if row.last_error == NO_CONSENT:
        # An earlier attempt may have reached some tokens before the revoke.
        version = records.notice_versions.get(notice_id or "", 0)
        if not any(at > version and not push for at, push in records.consent):
            found.append(f"{where}: finished without consent, but push was not revoked after the notice")
        return found
    for device_id, stored in records.tokens.items():
        known = acked_at.get(stored.token)
        if device_id not in devices or not stored.active or known is None or known >= row.created_at:
            continue
        if not any(a.token == stored.token and a.outcome == "sent" for a in attempts):
            found.append(
                f"{where}: never sent to {stored.token} of {device_id}, active since before the row"
                f" ({known} < {row.created_at}); attempts {[(a.token, a.outcome) for a in attempts]}"
            )
    return found


def _check_tokens(records: UserRecords, device: DeviceFacts, unregistered: set[str]) -> list[str]:
    if not device.tokens:
        return []
    stored = records.tokens.get(device.device_id)
    latest = device.tokens[-1]
    if stored is None or stored.token != latest:
        return [f"device {device.device_id}: server token {stored} != registered {latest}"]
    deactivated = any(a.token == latest and a.outcome == "deactivate" for a in records.attempts)
    if stored.active == deactivated:
        return [
            f"device {device.device_id}: token {latest} active={stored.active}, deactivated={deactivated}"
        ]
    return []


def replay_profile(records: UserRecords) -> tuple[dict[str, Any] | None, list[str]]:
    """The profile the audit trail adds up to, and every event the replay could not account for."""
    profile: dict[str, Any] | None = None
    problems: list[str] = []
    for event in records.audit:
        if event.offer_id is not None:
            if event.to_status not in ("applied", "failed"):
                continue
            if profile is None:
                problems.append(
                    f"audit {event.audit_id}: offer {event.offer_id} {event.to_status} without a profile"
                )
                continue
            terms = records.offers[event.offer_id]
            base = {"limit_cents": terms["base_limit_cents"], "rate_bps": terms["base_rate_bps"]}
            before = {"limit_cents": profile["limit_cents"], "rate_bps": profile["rate_bps"]}
            if event.to_status == "failed":
                # Failing is right only when the profile had really left the base.
                if event.reason_code == "base_changed" and before == base:
                    problems.append(
                        f"audit {event.audit_id}: offer {event.offer_id} failed on its own base {base}"
                    )
                continue
            # An applied offer moved the limit from exactly the base the user was shown.
            if before != base:
                problems.append(
                    f"audit {event.audit_id}: offer {event.offer_id} applied on {before}, made on {base}"
                )
            profile = {**profile, "limit_cents": terms["new_limit_cents"], "rate_bps": terms["rate_bps"]}
        elif event.reason_code == "profile_set" and event.detail is not None:
            profile = {name: event.detail.get(name) for name in MONEY_FIELDS}
        elif event.reason_code == "offer_applied" and event.detail is not None and profile is not None:
            written = {name: event.detail.get(name) for name in MONEY_FIELDS}
            if written != profile:
                problems.append(f"audit {event.audit_id}: profile written {written} != replay {profile}")
        else:
            problems.append(f"audit {event.audit_id}: unexplained profile event {event.reason_code}")
    return profile, problems


def check_profile(records: UserRecords, view: dict[str, Any]) -> list[str]:
    replayed, found = replay_profile(records)
    shown = view["profile"]
    shown = None if shown is None else {name: shown.get(name) for name in MONEY_FIELDS}
    if records.profile != replayed:
        found.append(f"profile {records.profile} != the sum of its audit events {replayed}")
    if shown != records.profile:
        found.append(f"admin view profile {shown} != stored {records.profile}")
    return found
