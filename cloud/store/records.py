"""Plain records the store takes and returns; backend-neutral, no SQL types leak out."""

from __future__ import annotations

from enum import StrEnum

import msgspec

from sync.messages import Mutation, Offer, OfferStatus, Profile


class UserRecord(msgspec.Struct, frozen=True, kw_only=True):
    user_id: str
    external_ref: str | None
    version: int
    """Highest change-log version of the user (0 = no change yet)."""
    created_at: int
    erased_at: int | None = None
    """When the user was erased (the row is then a tombstone: ``external_ref`` is cleared)."""


class DeviceRecord(msgspec.Struct, frozen=True, kw_only=True):
    device_id: str
    user_id: str
    platform: str
    app_version: str
    last_seq: int
    skew_ms: int
    revoked: bool
    created_at: int
    last_seen_at: int
    lineage_id: str
    """The device's own id, or the lineage of the device it replaced when re-enrolling."""


class EnrollmentCodeRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A one-time enrollment code as stored: its hash only, never the code."""

    code_hash: str
    user_id: str
    expires_at: int
    created_at: int
    used_at: int | None
    device_id: str | None
    """The device enrolled with it, once used."""


class RefreshGrant(msgspec.Struct, frozen=True, kw_only=True):
    """A new refresh token to store (hashed) when a device enrolls or rotates."""

    token_hash: str
    expires_at: int


class RotationKind(StrEnum):
    ROTATED = "rotated"
    """The presented token was live: it is now spent and the new one stored."""
    REPLAYED = "replayed"
    """The most recently spent token, whose successor is still unused: answer with that successor
    (the cached pair within the grace period, else with a new access token)."""
    REUSED = "reused"
    """A spent token whose successor was used, or an older one: the device's tokens were revoked."""
    INVALID = "invalid"
    """Unknown, expired or revoked token."""
    DEVICE_REVOKED = "device_revoked"


class RotationOutcome(msgspec.Struct, frozen=True, kw_only=True):
    kind: RotationKind
    cached_successor: bytes | None = None
    """For ``REPLAYED``: what the service cached when it rotated (opaque to the store)."""
    reissue_access: bool = False
    """For ``REPLAYED`` after the grace period: the cached access token may have expired, so the
    answer carries a newly issued one (the refresh token is the same successor)."""


class PushItem(msgspec.Struct, frozen=True, kw_only=True):
    """One pushed mutation after decoding: ``mutation`` is ``None`` when it failed validation."""

    seq: int
    mutation: Mutation | None
    digest: bytes
    """SHA-256 of the mutation's canonical encoding (:mod:`cloud.domain.sync.digest`).

    Kept per processed (device, seq); a later push of that seq with another digest is a
    ``SeqConflict``."""
    error: str | None = None


class ItemResult(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    status: str
    code: str | None = None
    detail: str | None = None
    replay: bool = False
    """The result kept when the seq was processed, answered again to a resend of it."""


class StoredChange(msgspec.Struct, frozen=True, kw_only=True):
    version: int
    type: str
    body: bytes
    """The change encoded as msgpack (sync.codec)."""


class ProcessedMutation(msgspec.Struct, frozen=True, kw_only=True):
    """What the store kept of one processed (device, seq): the mutation's digest and its result."""

    device_id: str
    seq: int
    digest: bytes
    status: str | None
    """The :class:`ItemResult` status given when it was processed (``None`` for seqs processed
    before results were kept; they are answered as plain duplicates)."""
    code: str | None
    detail: str | None


class SyncOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What one ``/v1/sync`` transaction did and the page of changes read after it."""

    last_seq: int
    results: list[ItemResult]
    expected_seq: int | None
    changes: list[StoredChange]
    """Up to ``limit + 1`` changes with version > the requested one, ascending."""
    outbox: list[OutboxRecord] = msgspec.field(default_factory=list)
    """Outbox rows this transaction added, for the caller to enqueue once it has committed."""
    erased: bool = False
    """The device's user was erased: ``changes`` holds only the ``Wipe`` and every pushed
    mutation was rejected ``user_erased``."""


class AggregateRecord(msgspec.Struct, frozen=True, kw_only=True):
    device_id: str
    lineage_id: str
    seq: int
    day: str
    tz_offset_min: int
    window_bucket: int
    levels: dict[str, int]
    mechanism: dict[str, object]
    model_version: str
    created_at: int
    received_at: int


class AggregateGroupRecord(msgspec.Struct, frozen=True, kw_only=True):
    """How many stored aggregates of a day range share one model, ``levels`` and ``mechanism``: the
    population estimates need only these counts, so the database groups and Python never sees
    one row per aggregate."""

    levels: dict[str, int]
    mechanism: dict[str, object]
    count: int
    model_version: str = ""
    """The model that scored them: the analytics never pool two models' reports."""


class NoticeRecord(msgspec.Struct, frozen=True, kw_only=True):
    notice_id: str
    version: int
    """Version of the notice's latest ``Notice`` change (the acknowledged one once acked)."""
    kind: str
    title: str
    body: str
    created_at: int
    acked_at: int | None


class UserView(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the server holds that a device of the user mirrors, plus what devices sent."""

    user: UserRecord
    consent: dict[str, bool]
    notices: list[NoticeRecord]
    offers: list[OfferRecord]
    profile: ProfileRecord | None
    aggregates: list[AggregateRecord]
    devices: list[DeviceRecord]


class OutboxState(StrEnum):
    PENDING = "pending"
    DONE = "done"
    """Its job did its work, in the transaction that marked the row."""
    DEAD = "dead"
    """Dead-letter: not done after the last attempt the relay allows."""
    CANCELLED = "cancelled"
    """Called off before its job did its work: the user it was for was erased."""


class OutboxRecord(msgspec.Struct, frozen=True, kw_only=True):
    outbox_id: int
    kind: str
    """The name of the job that consumes the row."""
    payload: bytes
    state: str
    """An :class:`OutboxState` value."""
    attempts: int
    """Number of the latest attempt enqueued, from 0 (the API's enqueue right after the commit)."""
    created_at: int
    updated_at: int
    first_attempt: int = 0
    """Number of the first attempt of the row's current round: 0, or where an operator's retry of
    the dead row restarted it. The relay allows ``OUTBOX_MAX_ATTEMPTS`` attempts per round."""
    last_error: str | None = None
    """Why the row's last attempt did not finish it, why it went dead, or why its job finished it
    without doing its work (a push skipped for lack of consent); ``None`` otherwise."""
    parent_id: int | None = None
    """The row whose job wrote this one (a notice's push), if any."""
    not_before: int | None = None
    """The relay takes the row's next attempt no earlier than this (a deferred announcement, an FCM
    back-off); ``None`` = no back-off."""


class OutboxCount(msgspec.Struct, frozen=True, kw_only=True):
    """How many outbox rows of one kind are in one state."""

    kind: str
    state: str
    count: int


class OutboxStats(msgspec.Struct, frozen=True, kw_only=True):
    """The outbox at a glance: row counts by (kind, state) and the oldest pending row."""

    counts: list[OutboxCount]
    """Ordered by kind, then state; only pairs that have rows."""
    oldest_pending_at: int | None
    """Since when the longest-waiting due ``pending`` row could run (its ``created_at``, or its
    ``not_before`` if later), or ``None`` when no pending row is due."""
    deferred: int = 0
    """Pending rows not due yet (a deferred announcement, an FCM back-off)."""


class DeadLetterRecord(msgspec.Struct, frozen=True, kw_only=True):
    """An outbox row in the dead-letter state, as an operator inspects it."""

    outbox_id: int
    kind: str
    payload: bytes
    attempts: int
    """Number of the last attempt made (attempts are numbered from 0)."""
    first_attempt: int
    last_error: str | None
    parent_id: int | None
    created_at: int
    updated_at: int
    """When the row went dead."""


class ApplyOutcome(StrEnum):
    """What one run of the ``apply_offer`` job did."""

    APPLIED = "applied"
    BASE_CHANGED = "base_changed"
    """The profile no longer had the limit and rate the offer was made on: the offer failed at once
    (terminal, the user told) and its outbox row is done; nothing else changed."""
    ALREADY_DONE = "already_done"
    """The outbox row was done (or dead) already: a repeated run, nothing changed."""
    MISSING = "missing"
    """No such outbox row in this store."""


class RelayOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """One relay pass: rows to enqueue as their next attempt, and rows moved to dead-letter."""

    requeued: list[OutboxRecord]
    dead: list[int]


class ProfileRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A user's credit profile; amounts in cents, the rate in basis points."""

    user_id: str
    currency: str
    limit_cents: int
    used_cents: int
    rate_bps: int
    updated_at: int


class OfferTerms(msgspec.Struct, frozen=True, kw_only=True):
    """What an operator (or the evaluation) offers; the current limit is read from the profile."""

    offer_id: str
    user_id: str
    new_limit_cents: int
    rate_bps: int
    term_months: int
    expires_at: int
    reason_codes: list[str]
    policy_version: str


class OfferRecord(msgspec.Struct, frozen=True, kw_only=True):
    offer_id: str
    user_id: str
    status: str
    """A :class:`sync.messages.OfferStatus` value."""
    current_limit_cents: int
    """The profile's limit when the offer was made: its base, which applying compares against."""
    new_limit_cents: int
    rate_bps: int
    term_months: int
    expires_at: int
    reason_codes: list[str]
    policy_version: str
    created_at: int
    updated_at: int
    base_rate_bps: int | None = None
    """The profile's rate when the offer was made (``None`` for offers made before it was recorded)."""
    reasons: list[str] = msgspec.field(default_factory=list)
    """``reason_codes`` in plain language, in the user's locale when the offer was made."""


class AuditRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One append-only audit event: an offer transition, or a profile change (no offer, no statuses)."""

    audit_id: int
    offer_id: str | None
    user_id: str
    from_status: str | None
    to_status: str | None
    actor: str
    """``admin``, ``device:<device_id>``, ``worker`` or ``system``."""
    reason_code: str
    ref: str | None
    """The request id, the mutation (``seq:<n>``) or the job that made the change."""
    detail: dict[str, object] | None
    at: int


def wire_offer(offer: OfferRecord) -> Offer:
    """The offer as devices mirror it (``OfferUpsert.offer``)."""
    return Offer(
        offer_id=offer.offer_id,
        status=OfferStatus(offer.status),
        current_limit_cents=offer.current_limit_cents,
        new_limit_cents=offer.new_limit_cents,
        rate_bps=offer.rate_bps,
        term_months=offer.term_months,
        expires_at=offer.expires_at,
        reason_codes=list(offer.reason_codes),
        reasons=list(offer.reasons),
        updated_at=offer.updated_at,
    )


def wire_profile(profile: ProfileRecord) -> Profile:
    """The profile as devices mirror it (``ProfileUpdate.profile``)."""
    return Profile(
        currency=profile.currency,
        limit_cents=profile.limit_cents,
        used_cents=profile.used_cents,
        rate_bps=profile.rate_bps,
        updated_at=profile.updated_at,
    )


class PushTarget(msgspec.Struct, frozen=True, kw_only=True):
    """An active push token of one of the user's (not revoked) devices."""

    device_id: str
    token: str
    platform: str


class PushPlan(msgspec.Struct, frozen=True, kw_only=True):
    """What one run of a ``send_push`` job should do: its payload, the consent, the tokens left."""

    payload: bytes
    """A JSON :class:`cloud.push.messages.PushPayload`."""
    user_id: str
    consented: bool
    """The user's ``push`` consent, read in the same transaction as the targets."""
    targets: list[PushTarget]
    """Active tokens this row has not been sent to yet (a 'sent' attempt makes a token done)."""
    not_before: int | None = None
    """The row may not be sent before this (a deferred announcement, a back-off); epoch ms."""
    offer_open: bool = True
    """For an offer's announcement: the offer is still ``offered`` (read with the targets)."""


class PushTokenRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A device's registered push token (one per device; the latest registration wins)."""

    device_id: str
    token: str
    platform: str
    active: bool
    """``False`` once FCM called it unregistered or another device registered the same token."""
    updated_at: int


class PushAttemptRecord(msgspec.Struct, frozen=True, kw_only=True):
    attempt_id: int
    outbox_id: int
    attempt: int
    user_id: str
    device_id: str
    token: str
    sender: str
    outcome: str
    """A :class:`cloud.push.messages.PushOutcome` value."""
    error_code: str | None
    message_id: str | None
    message: dict[str, object]
    """The message as handed to the sender (token, data, title, body, ttl_s, collapse_key)."""
    at: int


class CreditFeaturesRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A user's scorecard inputs that the credit profile does not hold (``docs/credit-policy.md``)."""

    user_id: str
    months_on_book: int
    on_time_payments_12m: int
    missed_payments_12m: int
    income_band: str
    """A :class:`cloud.domain.credit.scorecard.IncomeBand` value."""
    updated_at: int


class EvaluationState(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"
    """The job could not evaluate (bad inputs), or its outbox row went dead-letter."""


class EvaluationRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One requested credit evaluation; ``result`` is the JSON the job recorded when it ran."""

    evaluation_id: str
    user_id: str
    status: str
    """An :class:`EvaluationState` value."""
    trigger: str
    """``admin``, ``daily`` or ``seed``."""
    day: str
    """UTC day (ISO) it was requested on."""
    outbox_id: int | None
    result: bytes | None
    offer_id: str | None
    created_at: int
    updated_at: int
    outbox_state: str | None = None
    """State of its ``evaluate_credit`` outbox row (``dead`` reads as a failed evaluation)."""


class EvaluationInputs(msgspec.Struct, frozen=True, kw_only=True):
    """What the ``evaluate_credit`` job reads before computing (outside its write transaction)."""

    evaluation: EvaluationRecord
    features: CreditFeaturesRecord | None
    profile: ProfileRecord | None
    open_offer_id: str | None
    """The user's offer in flight (``offered`` or ``accepted``) when read, if any."""


class EvaluationRequested(msgspec.Struct, frozen=True, kw_only=True):
    """A stored evaluation request and the outbox row of its job, for the caller to enqueue."""

    evaluation: EvaluationRecord
    outbox: OutboxRecord


class OfferCreated(msgspec.Struct, frozen=True, kw_only=True):
    """A created offer and the outbox rows its transaction queued (its sync ping), to enqueue."""

    offer: OfferRecord
    outbox: list[OutboxRecord]


class CompletionOutcome(StrEnum):
    RECORDED = "recorded"
    BASE_CHANGED = "base_changed"
    """The profile no longer had the limit and rate the offer was made on: the offer failed at once
    (terminal, the user told) and its outbox row is done; nothing else changed."""
    ALREADY_DONE = "already_done"
    """The outbox row was no longer pending: a repeated run, nothing changed."""
    STALE = "stale"
    """The profile changed since the inputs were read: nothing written; evaluate again."""


class EvaluationCompleted(msgspec.Struct, frozen=True, kw_only=True):
    """What :meth:`cloud.store.protocol.Store.complete_evaluation` did."""

    outcome: CompletionOutcome
    offer: OfferRecord | None = None
    enqueue: list[OutboxRecord] = msgspec.field(default_factory=list)
    """Rows to enqueue now (a sync ping, an announcement not deferred); deferred ones wait."""


class TimelineEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One event in a user's timeline (the admin API's per-user history), newest first."""

    at: int
    """Epoch ms of the event."""
    kind: str
    """A :data:`cloud.store.scripts.lists.TIMELINE_KINDS` value."""
    ref: str
    """What the event is about: a device, offer, evaluation or notice id, a seq, a push attempt."""
    summary: str
    """A short, content-free description (statuses, days, outcomes; never a notice's text)."""


class FleetCounts(msgspec.Struct, frozen=True, kw_only=True):
    """What the workers' metric gauges show that only a query can tell."""

    devices_seen_1h: int
    devices_seen_24h: int
    offers_by_status: dict[str, int]
    """Offers per status; a status no offer is in is absent."""
    open_reviews: int = 0
    """Users' requests for a person to review a decision, not yet answered."""


class RecentActivity(msgspec.Struct, frozen=True, kw_only=True):
    """What the dashboard shows of a recent period: pushes by outcome, evaluations' results."""

    pushes_by_outcome: dict[str, int]
    evaluation_results: list[bytes]
    """The stored result JSON of the evaluations done in the period, newest first (bounded)."""


class MigrationStatus(msgspec.Struct, frozen=True, kw_only=True):
    applied: list[str]
    """The migrations this database has applied, by name."""
    known: list[str]
    """The migrations this build knows, in order."""


class OperatorRole(StrEnum):
    """What an operator may do: ``viewer`` reads, ``operator`` also acts, ``admin`` also manages accounts."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"


class OperatorRecord(msgspec.Struct, frozen=True, kw_only=True):
    operator_id: str
    username: str
    password_hash: str
    role: OperatorRole
    created_at: int
    disabled_at: int | None
    failed_logins: int
    locked_until: int


class OperatorSessionRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A session as stored: the token's hash only."""

    session_hash: str
    operator_id: str
    created_at: int
    expires_at: int


class AuthEventRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One row of the append-only auth audit."""

    audit_id: int
    at: int
    event: str
    username: str
    operator_id: str | None
    actor: str | None
    address: str | None
    detail: str | None


class LoginFailure(msgspec.Struct, frozen=True, kw_only=True):
    """What a failed login left behind: failures of the name in the window, and whether it locked."""

    recent_failures: int
    locked: bool


class ServiceKeyRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A service key as stored: its secret's hash only."""

    key_id: str
    name: str
    secret_hash: str
    role: OperatorRole
    created_at: int
    created_by: str
    revoked_at: int | None


class UserExportRecord(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the store holds about one user, read in one transaction (the data export)."""

    view: UserView
    audit: list[AuditRecord]
    evaluations: list[EvaluationRecord]
    credit_features: CreditFeaturesRecord | None
    push_tokens: list[PushTokenRecord]
    pushes: list[PushAttemptRecord]
    reviews: list[ReviewRecord] = msgspec.field(default_factory=list)


class ErasureRecord(msgspec.Struct, frozen=True, kw_only=True):
    """What erasing a user did (``POST /v1/admin/users/{user_id}/erase``)."""

    user_id: str
    erased_at: int
    already_erased: bool
    """The user had been erased before: nothing was done now."""
    devices_to_wipe: int
    """Devices whose rows stay until they pull the ``Wipe`` or their refresh tokens expire."""
    offers_withdrawn: list[str]
    """Open offers withdrawn by the erasure (audited as ``user_erased``)."""
    evaluations_cancelled: int
    pushes_cancelled: int
    outbox: list[OutboxRecord] = msgspec.field(default_factory=list)
    """The data-only sync ping that makes the devices pull the ``Wipe`` now, to enqueue."""


class RetentionCutoffs(msgspec.Struct, frozen=True, kw_only=True):
    """What the ``retention`` job deletes: rows older than these (``docs/privacy.md``, retention)."""

    aggregates_before_day: str
    """Aggregates of days before this one (``YYYY-MM-DD``)."""
    push_attempts_before: int
    outbox_before: int
    """Finished outbox rows last touched before this time, and not named by a live row."""
    sessions_before: int
    """Operator sessions that expired or ended before this time (they can no longer be used)."""
    digests_revoked_before: int
    """Mutation digests of devices revoked before this time: a revoked device never syncs again."""


class RetentionOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """Rows one retention transaction deleted, per table."""

    aggregates: int = 0
    push_attempts: int = 0
    outbox: int = 0
    mutation_digests: int = 0
    operator_sessions: int = 0

    def most(self) -> int:
        """The largest count: a batch as full as the limit means there may be more."""
        return max(
            self.aggregates, self.push_attempts, self.outbox, self.mutation_digests, self.operator_sessions
        )


class CompactionOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """One batch of change-log compaction: users looked at, changes deleted, where to go on."""

    users: int
    deleted: int
    last_user_id: str | None
    """The last user of the batch (the next batch starts after it); ``None`` when none was left."""


class WipedPurge(msgspec.Struct, frozen=True, kw_only=True):
    """One batch of the purge of erased users' devices."""

    devices: int
    """Devices deleted (wiped long enough ago, or their refresh tokens expired or revoked)."""
    users: int
    """Erased users left without a device whose ``Wipe`` (and ping) went."""


class ReviewStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class ReviewRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A user's request for a person to review the decision behind an offer: an operator's task."""

    review_id: str
    user_id: str
    offer_id: str
    device_id: str
    note: str | None
    status: str
    """A :class:`ReviewStatus` value."""
    created_at: int
    closed_at: int | None = None
    closed_by: str | None = None
    resolution: str | None = None


class ReviewClosed(msgspec.Struct, frozen=True, kw_only=True):
    """A review closed, and the outbox rows (the notice's push) to enqueue."""

    review: ReviewRecord
    outbox: list[OutboxRecord]


class ModelFileRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One file of a release: its ``manifest.json`` or a model file that manifest names."""

    name: str
    sha256: str
    body: bytes


class ModelReleaseRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A published model release (spec §5.9) and how far it is rolled out."""

    release: int
    model_version: str
    feature_spec_version: str
    sha256: str
    signature: str
    rollout_bps: int
    """Share of users (cohort buckets below this, of 10,000) the release is for."""
    created_at: int
    created_by: str
    rolled_out_at: int | None = None
    rolled_out_by: str | None = None
    files: tuple[str, ...] = ()
    """Names of its files, ``manifest.json`` first."""
    devices: int = 0
    """Devices (not revoked) whose last sync said they serve this release's model version."""
