"""The store interface every backend implements; tests/conformance runs one suite against each.

Each method is one transaction. Methods are shaped by use case rather than by table so a
backend can run a whole request's writes as one unit (for SQLite: one call on the connection's
thread, see :mod:`cloud.store.engines.sqlite`). Times are epoch milliseconds passed in by the caller,
so tests control the clock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from cloud.domain.admin.paging import Key
from cloud.push.messages import PushMessage, PushOutcome, PushPayload, PushResult
from cloud.store.records import (
    AggregateGroupRecord,
    AggregateRecord,
    ApplyOutcome,
    AuditRecord,
    AuthEventRecord,
    CompactionOutcome,
    CreditFeaturesRecord,
    DeadLetterRecord,
    DeviceRecord,
    EnrollmentCodeRecord,
    ErasureRecord,
    EvaluationCompleted,
    EvaluationInputs,
    EvaluationRecord,
    EvaluationRequested,
    EvaluationState,
    FleetCounts,
    LoginFailure,
    MigrationStatus,
    ModelFileRecord,
    ModelReleaseRecord,
    OfferCreated,
    OfferRecord,
    OfferTerms,
    OperatorRecord,
    OperatorRole,
    OperatorSessionRecord,
    OutboxRecord,
    OutboxState,
    OutboxStats,
    ProcessedMutation,
    ProfileRecord,
    PushAttemptRecord,
    PushItem,
    PushPlan,
    PushTarget,
    PushTokenRecord,
    RecentActivity,
    RefreshGrant,
    RelayOutcome,
    RetentionCutoffs,
    RetentionOutcome,
    ReviewClosed,
    ReviewRecord,
    RotationOutcome,
    ServiceKeyRecord,
    StoredChange,
    SyncOutcome,
    TimelineEntry,
    UserExportRecord,
    UserRecord,
    UserView,
    WipedPurge,
)


class Store(Protocol):
    async def migrate(self) -> list[str]:
        """Apply pending registered migrations in order; returns the names applied now."""
        ...

    async def close(self) -> None: ...

    async def epoch(self) -> str:
        """The store's epoch (``0`` until a restore from a backup starts another; spec §5.5)."""
        ...

    async def begin_epoch(self, epoch: str, *, backup_at: int, now: int) -> None:
        """Start ``epoch``: the store was restored from a backup taken at ``backup_at``."""
        ...

    async def replay_revocation(
        self, user_id: str, device_id: str | None, scope: str, *, at: int, now: int
    ) -> str:
        """After a restore: revoke ``scope`` as of ``at`` (a journalled revocation the backup does
        not hold); ``applied``, ``stale`` (a later change is recorded), ``unknown_user`` or
        ``erased``."""
        ...

    async def ping(self) -> None:
        """Raise if the database does not answer."""
        ...

    # --- users and enrollment ----------------------------------------------------

    async def create_user(self, user_id: str, external_ref: str | None, now: int) -> UserRecord: ...

    async def get_user(self, user_id: str) -> UserRecord | None: ...

    async def list_users(self) -> list[UserRecord]:
        """Every user, oldest first."""
        ...

    async def create_enrollment_code(self, user_id: str, code_hash: str, expires_at: int, now: int) -> None:
        """Store a one-time code (hashed). Raises :class:`cloud.errors.UserNotFound`."""
        ...

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
        """Spend the code, create the device and its first refresh token, atomically.

        With ``replaces_device_id`` (a store restored from a backup re-enrolling), that device
        must belong to the code's user: the new device joins its lineage and the old one is
        revoked in the same transaction. A first device's lineage is its own id.

        Raises ``EnrollmentCodeInvalid`` / ``EnrollmentCodeExpired`` / ``EnrollmentCodeUsed`` /
        ``ReplacesDeviceInvalid`` (from :mod:`cloud.errors`) and changes nothing then.
        """
        ...

    async def enrollment_codes(self, user_id: str) -> list[EnrollmentCodeRecord]:
        """The user's enrollment codes (hashes only), used or not, oldest first."""
        ...

    # --- devices and refresh tokens ---------------------------------------------

    async def get_device(self, device_id: str) -> DeviceRecord | None: ...

    async def list_devices(self, user_id: str | None = None) -> list[DeviceRecord]: ...

    async def revoke_device(self, device_id: str, now: int, *, stolen: bool = False) -> DeviceRecord:
        """Mark the device revoked and revoke its refresh tokens; ``stolen`` also closes its
        lineage, so no re-enrollment may name it. Raises ``DeviceNotFound``."""
        ...

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
        """Spend a refresh token and store its successor; see :class:`RotationKind` for outcomes.

        ``cached_successor`` is kept with the spent token until its successor is spent. Presenting
        the spent token again while its successor is unused (neither spent nor revoked) is
        ``REPLAYED`` with that cache, at any age; after ``grace_ms`` the outcome says
        ``reissue_access``. ``successor`` is what the service derives for the presented token
        now: if its hash differs from the stored successor's (the derivation key changed), the
        unused successor is re-keyed to it. An unused successor that has expired is ``INVALID``.
        Any other spent token is ``REUSED``, which has already revoked the device's tokens
        (committed).
        """
        ...

    # --- sync ---------------------------------------------------------------------

    async def sync(
        self,
        *,
        device_id: str,
        items: Sequence[PushItem],
        skew_ms: int,
        after_version: int,
        pull_limit: int,
        now: int,
        locale: str | None = None,
        model_version: str | None = None,
    ) -> SyncOutcome:
        """Apply a push under the exactly-once rule and read the next page of changes.

        ``locale`` (a supported one, :mod:`sync.locales`) becomes the user's before the push;
        ``model_version`` is recorded as the model the device serves. The newest model release
        rolled out to the user and not yet announced to them is appended to their change log.

        The push, ``last_seq``, a digest per processed mutation and the clock skew are written in
        one transaction. A duplicate (``seq <= last_seq``) whose stored digest differs from the
        pushed one raises ``SeqConflict`` (a ``Withdrawn`` never does). Raises
        ``DeviceNotFound`` / ``DeviceRevoked`` / ``CursorAhead`` / ``SeqConflict`` and then
        changes nothing.
        """
        ...

    async def processed_mutations(self, device_id: str) -> list[ProcessedMutation]:
        """The digest and result kept for each seq of the device that :meth:`sync` processed, by seq."""
        ...

    async def change_log(self, user_id: str, *, after_version: int = 0) -> list[StoredChange]:
        """The user's changes with a version above ``after_version``, ascending (all of them, where
        :meth:`sync` reads one page)."""
        ...

    # --- admin --------------------------------------------------------------------

    async def append_notice(
        self, *, user_id: str, notice_id: str, kind: str, title: str, body: str, now: int
    ) -> int:
        """Store a notice and append its ``Notice`` change; returns the new user version.

        Acknowledging it (``AckNotice`` in :meth:`sync`) appends the same notice again with
        ``acked`` set, once.
        """
        ...

    async def user_view(self, user_id: str) -> UserView:
        """The server's view of a user; raises ``UserNotFound``."""
        ...

    # --- credit profiles and offers --------------------------------------------------------

    async def set_profile(
        self, profile: ProfileRecord, *, actor: str, reason_code: str, ref: str | None = None
    ) -> int:
        """Create or replace the user's profile with an audit event and a ``ProfileUpdate`` change;
        returns the new user version. Raises ``UserNotFound``."""
        ...

    async def get_profile(self, user_id: str) -> ProfileRecord | None: ...

    async def create_offer(
        self, terms: OfferTerms, *, actor: str, ref: str | None = None, now: int
    ) -> OfferRecord:
        """Store an ``offered`` offer on the profile's current limit, with an audit event and an
        ``OfferUpsert`` change. Raises ``UserNotFound`` / ``ProfileMissing`` / ``InvalidOfferTerms``
        (new limit not above the current one, expiry not after ``now``) and changes nothing then."""
        ...

    async def create_offer_and_ping(
        self, terms: OfferTerms, *, actor: str, ref: str | None = None, now: int
    ) -> OfferCreated:
        """:meth:`create_offer`, and in the same transaction a data-only ``send_push`` sync ping to
        the user's devices if the user has the ``push`` consent; returns the offer and that row."""
        ...

    async def withdraw_offer(
        self, offer_id: str, *, actor: str, reason_code: str, ref: str | None = None, now: int
    ) -> OfferRecord:
        """``offered`` → ``withdrawn`` with an audit event and an ``OfferUpsert`` change.
        Raises ``OfferNotFound`` / ``OfferClosed`` and changes nothing then."""
        ...

    async def get_offer(self, offer_id: str) -> OfferRecord | None: ...

    async def list_offers(self, user_id: str) -> list[OfferRecord]:
        """The user's offers, oldest first. Raises ``UserNotFound``."""
        ...

    async def audit_trail(
        self, *, user_id: str | None = None, offer_id: str | None = None
    ) -> list[AuditRecord]:
        """Audit events of one offer, or of one user (offers and profile), oldest first."""
        ...

    async def list_outbox(self, *, after_id: int = 0) -> list[OutboxRecord]:
        """Every outbox row with an id above ``after_id``, oldest first."""
        ...

    async def apply_offer(self, outbox_id: int, *, ref: str, now: int) -> ApplyOutcome:
        """The ``apply_offer`` job, in one write transaction, idempotent through its outbox row.

        A ``done`` or ``dead`` row: nothing changes (``already_done``); no row: ``missing``.
        Otherwise the offer goes ``accepted`` → ``applied`` with an audit event (actor ``worker``,
        reason ``offer_applied``, ``ref``), the profile takes the offer's limit and rate (audit
        event, ``ProfileUpdate``), a ``limit_applied`` notice is appended and the row is marked
        ``done``. Raises ``OfferNotAccepted`` / ``ProfileMissing`` / ``OfferVanished`` /
        ``OutboxPayloadInvalid`` and changes nothing then.
        """
        ...

    async def relay_outbox(self, *, now: int, timeout_ms: int, max_attempts: int) -> RelayOutcome:
        """One relay pass over ``pending`` rows not touched for ``timeout_ms``, in one transaction.

        A row whose attempt ``max_attempts - 1`` timed out goes ``dead``; an ``apply_offer`` row's
        offer, if still ``accepted``, goes ``failed`` (audit reason ``apply_attempts_exhausted``,
        ``OfferUpsert``, an ``acceptance_failed`` notice). Every other stale row gets its next
        attempt number and is returned for the caller to enqueue.
        """
        ...

    async def expire_offers(self, *, now: int, limit: int) -> list[OfferRecord]:
        """The expiry cron's one write transaction: ``offered`` offers whose ``expires_at`` is more
        than the acceptance grace period (the store's ``AcceptanceRule.grace_ms``) before ``now``
        go ``expired``, at most ``limit`` of them, oldest expiry first, each with an audit event
        (actor ``system``, reason ``offer_expired``, ref ``cron:expire_offers``) and an
        ``OfferUpsert``. Offers inside the grace period stay ``offered``, so a late offline
        acceptance that still counts finds them open. Returns the offers expired; idempotent."""
        ...

    # --- outbox operations ---------------------------------------------------------------

    async def outbox_stats(self, *, now: int) -> OutboxStats:
        """Row counts by (kind, state); since when the longest-waiting ``pending`` row due at
        ``now`` could run; how many pending rows are not due yet (``not_before`` after ``now``)."""
        ...

    async def dead_letters(self, *, limit: int, after_id: int = 0) -> list[DeadLetterRecord]:
        """Dead-letter rows with ``outbox_id > after_id``, ascending, at most ``limit``."""
        ...

    async def retry_dead(self, outbox_id: int, *, now: int) -> OutboxRecord:
        """A dead row back to ``pending`` for a new round of ``OUTBOX_MAX_ATTEMPTS`` attempts,
        starting at attempt ``attempts + 1`` (its ``first_attempt``, so the job id is new).
        Returns the row for the caller to enqueue after the commit. Raises ``OutboxRowNotFound``;
        ``OutboxNotRetryable`` for a row that is not dead, and for a dead ``apply_offer`` row
        whose offer is not ``accepted`` any more (``failed`` is terminal) or is gone; nothing
        changes then."""
        ...

    # --- push ------------------------------------------------------------------------------

    async def outbox_children(self, parent_id: int) -> list[OutboxRecord]:
        """Pending rows written by the job of row ``parent_id`` (its notice's push), oldest first."""
        ...

    async def push_plan(self, outbox_id: int, *, claim_at: int | None = None) -> PushPlan | None:
        """For a pending ``send_push`` row: the consent and the active tokens not yet sent; else ``None``.

        With ``claim_at`` (the job about to send) the row's ``updated_at`` is set to it in the same
        transaction, so the relay does not start the row's next attempt (which would send again)
        until a full relay timeout after the send began."""
        ...

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
        """One transaction: every attempt recorded, dead tokens deactivated, the row ``done`` or,
        if any answer said retry, left pending until ``retry_at``. A row no longer pending: its state.

        ``attempt`` is the job's attempt number, recorded with each send: a slow job may record
        after the relay has already counted the row's next attempt."""
        ...

    async def skip_push(self, outbox_id: int, reason: PushOutcome, now: int) -> None:
        """Finish a pending ``send_push`` row without sending (``reason`` kept as its error)."""
        ...

    async def push_attempts(self, user_id: str) -> list[PushAttemptRecord]:
        """Every push attempt to the user's devices, oldest first."""
        ...

    async def push_tokens(self, user_id: str) -> list[PushTokenRecord]:
        """The push token each of the user's devices registered last (revoked devices included),
        active or not, by device id."""
        ...

    # --- analytics (read-only) -----------------------------------------------------------

    async def user_aggregates(self, user_id: str, first_day: str, last_day: str) -> list[AggregateRecord]:
        """The user's aggregates whose ``day`` is in ``[first_day, last_day]`` (inclusive ISO
        dates), ordered by day then device; an unknown user has none."""
        ...

    async def aggregate_groups(self, first_day: str, last_day: str) -> list[AggregateGroupRecord]:
        """Every user's aggregates whose ``day`` is in ``[first_day, last_day]`` (inclusive ISO
        dates), counted per distinct ``levels`` and ``mechanism``."""
        ...

    # --- credit evaluation -------------------------------------------------------------------

    async def set_credit_features(self, features: CreditFeaturesRecord) -> None:
        """Create or replace the user's credit features. Raises ``UserNotFound``."""
        ...

    async def get_credit_features(self, user_id: str) -> CreditFeaturesRecord | None: ...

    async def request_evaluation(
        self, user_id: str, evaluation_id: str, *, trigger: str, day: str, now: int
    ) -> EvaluationRequested:
        """Write a ``pending`` evaluation and its ``evaluate_credit`` outbox row, in one transaction.

        Raises ``UserNotFound`` / ``ProfileMissing`` / ``CreditFeaturesMissing`` /
        ``OpenOfferExists`` (an ``offered`` or ``accepted`` offer) and writes nothing then.
        """
        ...

    async def request_daily_evaluations(
        self, *, day: str, now: int, recent_ms: int, limit: int, new_id: Callable[[], str]
    ) -> list[EvaluationRequested]:
        """One batch (at most ``limit``) of ``daily`` evaluation requests, in one transaction, for
        users with a profile, credit features, a device not revoked, no offer in flight, and no
        evaluation requested after ``now - recent_ms`` nor a daily one on ``day``. A user written
        here is not eligible again, so repeated calls walk the population; an empty list ends it."""
        ...

    async def get_evaluation(self, evaluation_id: str) -> EvaluationRecord | None: ...

    async def list_evaluations(self, user_id: str | None = None) -> list[EvaluationRecord]:
        """Evaluations of one user, or of everyone, oldest first."""
        ...

    async def evaluation_inputs(self, outbox_id: int) -> EvaluationInputs | None:
        """What the job of a pending ``evaluate_credit`` row reads: its evaluation, the user's
        features, profile and offer in flight. ``None`` when the row is missing or not pending.
        Raises ``EvaluationRowInvalid`` for a row that names no evaluation."""
        ...

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
        """The ``evaluate_credit`` job's one write transaction, idempotent through its outbox row.

        A row no longer pending: nothing changes (``already_done``). If the profile or the offer in
        flight differ from ``read``: nothing changes (``stale``). Otherwise the offer of ``terms``
        (if any) is created as :meth:`create_offer` does (audit, ``OfferUpsert``); its
        ``announcement`` is queued as a ``send_push`` row if the user has the ``push`` consent,
        not to be sent before ``announce_not_before`` when given (then a data-only sync ping is
        queued too, due now); the evaluation takes ``status``, ``result`` and the offer id, and the
        outbox row is marked ``done``. Returns the offer and the pushes due now, to enqueue.
        """
        ...

    # --- the admin lists ---------------------------------------------------------------------
    # Newest first, paged by key (cloud.domain.admin.paging): the rows below ``after`` (all when
    # ``None``), at most ``limit + 1`` of them, the extra row meaning there is a next page. A
    # ``None`` filter does not filter.

    async def page_users(
        self, *, external_ref: str | None, after: Key | None, limit: int
    ) -> list[UserRecord]:
        """Users by (created_at, user_id)."""
        ...

    async def page_devices(
        self,
        *,
        user_id: str | None,
        platform: str | None,
        revoked: bool | None,
        after: Key | None,
        limit: int,
    ) -> list[DeviceRecord]:
        """Devices by (created_at, device_id)."""
        ...

    async def page_offers(
        self, *, status: str | None, user_id: str | None, after: Key | None, limit: int
    ) -> list[OfferRecord]:
        """Offers by (created_at, offer_id)."""
        ...

    async def page_evaluations(
        self, *, status: str | None, user_id: str | None, after: Key | None, limit: int
    ) -> list[EvaluationRecord]:
        """Evaluations by (created_at, evaluation_id)."""
        ...

    async def page_outbox(
        self, *, kind: str | None, state: str | None, after: Key | None, limit: int
    ) -> list[OutboxRecord]:
        """Outbox rows by (outbox_id,)."""
        ...

    async def user_timeline(self, user_id: str, *, after: Key | None, limit: int) -> list[TimelineEntry]:
        """The user's events by (at, kind, ref) (:data:`cloud.store.scripts.lists.TIMELINE_KINDS`);
        ``UserNotFound`` for an unknown user."""
        ...

    async def fleet_counts(self, now: int) -> FleetCounts:
        """Devices seen within the hour and the day before ``now``, and offers by status."""
        ...

    async def recent_activity(self, since: int) -> RecentActivity:
        """Pushes by outcome and done evaluations' results (newest first, at most 5 000) since ``since``."""
        ...

    async def migration_status(self) -> MigrationStatus:
        """The migrations this database has applied and the ones this build knows."""
        ...

    async def database_time_ms(self) -> int:
        """The database server's clock, epoch milliseconds (the doctor's skew check)."""
        ...

    # --- operator accounts ----------------------------------------------------------------

    async def create_operator(
        self, operator: OperatorRecord, *, actor: str, address: str | None, first: bool = False
    ) -> OperatorRecord:
        """Create an account, audited. ``OperatorExists`` for a taken username; with ``first``
        (the bootstrap), ``BootstrapClosed`` once any account exists."""
        ...

    async def get_operator(self, username: str) -> OperatorRecord | None: ...

    async def list_operators(self) -> list[OperatorRecord]:
        """Every account, oldest first."""
        ...

    async def login_succeeded(
        self, operator: OperatorRecord, session: OperatorSessionRecord, address: str | None
    ) -> None:
        """Start the session and clear the account's failures, audited."""
        ...

    async def login_failed(
        self,
        username: str,
        operator_id: str | None,
        address: str | None,
        now: int,
        *,
        window_start: int,
        max_failures: int,
        locked_until: int,
        reason: str,
    ) -> LoginFailure:
        """Audit a failed login of ``username`` (an account's or not); lock the account at
        ``max_failures`` until ``locked_until``."""
        ...

    async def session_operator(self, session_hash: str, now: int) -> OperatorRecord | None:
        """The operator of a live session (not ended, not expired, account not disabled)."""
        ...

    async def end_session(self, session_hash: str, now: int, address: str | None) -> bool:
        """End a session (logout), audited; ``False`` if it was not live."""
        ...

    async def set_operator_role(
        self, username: str, role: OperatorRole, *, actor: str, address: str | None, now: int
    ) -> OperatorRecord:
        """Change an account's role, audited; ``OperatorNotFound``."""
        ...

    async def disable_operator(
        self, username: str, *, actor: str, address: str | None, now: int
    ) -> OperatorRecord:
        """Disable an account and end its sessions, audited; ``OperatorNotFound``."""
        ...

    async def page_auth_audit(self, *, after: int | None, limit: int) -> list[AuthEventRecord]:
        """The auth audit, newest first by ``audit_id``."""
        ...

    async def create_service_key(self, key: ServiceKeyRecord, *, address: str | None) -> ServiceKeyRecord:
        """Store a key (its secret's hash), audited."""
        ...

    async def service_key(self, key_id: str) -> ServiceKeyRecord | None: ...

    async def list_service_keys(self) -> list[ServiceKeyRecord]:
        """Every key, revoked ones too, oldest first."""
        ...

    async def revoke_service_key(
        self, key_id: str, *, actor: str, address: str | None, now: int
    ) -> ServiceKeyRecord:
        """Revoke a key at once, audited; ``ServiceKeyNotFound``."""
        ...

    # --- the user's rights ------------------------------------------------------------------

    async def export_user(
        self, user_id: str, *, actor: str, address: str | None, now: int
    ) -> UserExportRecord:
        """Everything held about the user, in one transaction that also audits the export
        (``user_exported`` in the auth audit). ``UserNotFound``."""
        ...

    async def erase_user(self, user_id: str, *, actor: str, address: str | None, now: int) -> ErasureRecord:
        """Erase the user in one transaction (:mod:`cloud.store.scripts.erasure`), audited as
        ``user_erased``; again on an erased user, nothing. ``UserNotFound`` / ``ErasureBlocked``."""
        ...

    async def purge_wiped_devices(self, *, now: int, limit: int) -> WipedPurge:
        """Delete up to ``limit`` devices of erased users that pulled their ``Wipe`` long enough ago
        or whose refresh tokens expired; returns how many."""
        ...

    # --- retention -----------------------------------------------------------------------------

    async def purge_expired(self, cutoffs: RetentionCutoffs, *, limit: int) -> RetentionOutcome:
        """Delete up to ``limit`` rows past their time from each table, in one transaction
        (:mod:`cloud.store.scripts.retention`)."""
        ...

    async def compact_change_logs(self, *, after_user_id: str, users: int, before: int) -> CompactionOutcome:
        """Compact the change logs of up to ``users`` users after ``after_user_id`` (spec §5.5)."""
        ...

    # --- reviews of automated decisions --------------------------------------------------------

    async def page_reviews(self, *, status: str | None, after: Key | None, limit: int) -> list[ReviewRecord]:
        """Review requests, newest first (``limit + 1`` at most), of one status or all."""
        ...

    async def close_review(self, review_id: str, *, resolution: str, actor: str, now: int) -> ReviewClosed:
        """Close an open review; the user is sent the resolution as a notice.
        ``ReviewNotFound`` (an erased user's reviews went with the erasure) / ``ReviewAlreadyClosed``."""
        ...

    # --- model releases (spec §5.9) ------------------------------------------------------------

    async def publish_release(
        self, release: ModelReleaseRecord, files: Sequence[ModelFileRecord], *, address: str | None
    ) -> ModelReleaseRecord:
        """Store a release, rolled out to nobody, with its files; audited as
        ``model_release_published``. ``ReleaseExists`` unless its number is above every published one."""
        ...

    async def set_rollout(
        self, release: int, rollout_bps: int, *, actor: str, address: str | None, now: int
    ) -> ModelReleaseRecord:
        """Widen a release's rollout (audited as ``model_rollout_changed``); the same value again
        changes nothing. ``ReleaseNotFound`` / ``RolloutNarrowed``."""
        ...

    async def model_releases(self) -> list[ModelReleaseRecord]:
        """Every published release, newest first, with the devices reporting its model version."""
        ...

    async def model_file(self, release: int, name: str) -> ModelFileRecord | None:
        """One file of a release; ``None`` if the release or the file is unknown."""
        ...
