"""The store every engine serves: each :class:`~cloud.store.protocol.Store` method runs one
transaction script (:mod:`cloud.store.scripts`) through the engine's transaction boundary.

An engine subclasses :class:`TxStore` and provides the boundary (:meth:`TxStore._write_tx`,
:meth:`TxStore._read_tx`, :meth:`TxStore._query`), its migrations, ``ping`` and ``close``. The
scripts — the use cases and their rules — exist once, whatever the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar, TypeVar

from cloud.domain.admin.paging import Key
from cloud.domain.offers.rules import AcceptanceRule
from cloud.push.messages import PushMessage, PushOutcome, PushPayload, PushResult
from cloud.store.migrations import MIGRATIONS
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
from cloud.store.scripts import (
    changelog,
    credit,
    devices,
    erasure,
    exports,
    lists,
    offers,
    operators,
    outbox,
    push,
    releases,
    restore,
    retention,
    reviews,
    sync,
    views,
)
from cloud.store.tx import Tx

T = TypeVar("T")


class TxStore:
    """:class:`~cloud.store.protocol.Store` over an engine's transactions (see the module docstring)."""

    NOW_MS_SQL: ClassVar[str]
    """The engine's statement for the database server's clock in epoch milliseconds."""

    def __init__(
        self, acceptance: AcceptanceRule | None = None, fault_hook: Callable[[str], None] | None = None
    ) -> None:
        self.acceptance = acceptance or AcceptanceRule()
        """Bounds of the offline-acceptance rule applied to ``AcceptOffer`` in :meth:`sync`."""
        self.fault_hook = fault_hook
        """Tests only (:mod:`cloud.faults`): called with a point name inside ``apply_offer``'s transaction."""

    # --- the engine's part ---------------------------------------------------------------

    async def _write_tx(self, fn: Callable[[Tx], T]) -> T:
        """Run ``fn`` in a write transaction and commit; roll back if it raises."""
        raise NotImplementedError

    async def _read_tx(self, fn: Callable[[Tx], T]) -> T:
        """Run ``fn`` in a read transaction: its reads see one consistent snapshot."""
        raise NotImplementedError

    async def _query(self, fn: Callable[[Tx], T]) -> T:
        """Run ``fn``, one read statement, outside an explicit transaction."""
        raise NotImplementedError

    # --- users and enrollment --------------------------------------------------------

    async def create_user(self, user_id: str, external_ref: str | None, now: int) -> UserRecord:
        return await self._write_tx(lambda tx: devices.create_user(tx, user_id, external_ref, now))

    async def get_user(self, user_id: str) -> UserRecord | None:
        return await self._query(lambda tx: devices.get_user(tx, user_id))

    async def list_users(self) -> list[UserRecord]:
        return await self._query(devices.list_users)

    async def enrollment_codes(self, user_id: str) -> list[EnrollmentCodeRecord]:
        return await self._query(lambda tx: devices.enrollment_codes(tx, user_id))

    async def create_enrollment_code(self, user_id: str, code_hash: str, expires_at: int, now: int) -> None:
        await self._write_tx(
            lambda tx: devices.create_enrollment_code(tx, user_id, code_hash, expires_at, now)
        )

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
        return await self._write_tx(
            lambda tx: devices.enroll_device(
                tx,
                code_hash=code_hash,
                device_id=device_id,
                platform=platform,
                app_version=app_version,
                refresh=refresh,
                now=now,
                replaces_device_id=replaces_device_id,
            )
        )

    # --- devices and refresh tokens ----------------------------------------------------

    async def get_device(self, device_id: str) -> DeviceRecord | None:
        return await self._query(lambda tx: devices.get_device(tx, device_id))

    async def list_devices(self, user_id: str | None = None) -> list[DeviceRecord]:
        return await self._query(lambda tx: devices.list_devices(tx, user_id))

    async def revoke_device(self, device_id: str, now: int, *, stolen: bool = False) -> DeviceRecord:
        return await self._write_tx(lambda tx: devices.revoke_device(tx, device_id, now, stolen=stolen))

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
        return await self._write_tx(
            lambda tx: devices.rotate_refresh(
                tx,
                device_id=device_id,
                presented_hash=presented_hash,
                successor=successor,
                cached_successor=cached_successor,
                grace_ms=grace_ms,
                now=now,
            )
        )

    # --- the store's epoch ---------------------------------------------------------------------

    async def epoch(self) -> str:
        return await self._query(
            lambda tx: str(tx.execute("SELECT epoch FROM store_meta WHERE id = 1").fetchone()[0])
        )

    async def begin_epoch(self, epoch: str, *, backup_at: int, now: int) -> None:
        await self._write_tx(
            lambda tx: tx.execute(
                "UPDATE store_meta SET epoch = ?, restored_at = ?, backup_at = ? WHERE id = 1",
                (epoch, now, backup_at),
            )
        )

    async def replay_revocation(
        self, user_id: str, device_id: str | None, scope: str, *, at: int, now: int
    ) -> str:
        return await self._write_tx(
            lambda tx: restore.replay_revocation(tx, user_id, device_id, scope, at, now)
        )

    # --- sync ------------------------------------------------------------------------------

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
        acceptance = self.acceptance
        return await self._write_tx(
            lambda tx: sync.sync(
                tx,
                device_id=device_id,
                items=items,
                skew_ms=skew_ms,
                after_version=after_version,
                pull_limit=pull_limit,
                now=now,
                acceptance=acceptance,
                locale=locale,
                model_version=model_version,
            )
        )

    async def processed_mutations(self, device_id: str) -> list[ProcessedMutation]:
        return await self._query(lambda tx: sync.processed_mutations(tx, device_id))

    async def change_log(self, user_id: str, *, after_version: int = 0) -> list[StoredChange]:
        return await self._query(lambda tx: changelog.change_log(tx, user_id, after_version))

    # --- admin -------------------------------------------------------------------------------

    async def append_notice(
        self, *, user_id: str, notice_id: str, kind: str, title: str, body: str, now: int
    ) -> int:
        return await self._write_tx(
            lambda tx: views.append_notice(
                tx, user_id=user_id, notice_id=notice_id, kind=kind, title=title, body=body, now=now
            )
        )

    async def user_view(self, user_id: str) -> UserView:
        return await self._read_tx(lambda tx: views.user_view(tx, user_id))

    # --- credit profiles and offers ----------------------------------------------------

    async def set_profile(
        self, profile: ProfileRecord, *, actor: str, reason_code: str, ref: str | None = None
    ) -> int:
        return await self._write_tx(
            lambda tx: offers.set_profile(tx, profile, actor=actor, reason_code=reason_code, ref=ref)
        )

    async def get_profile(self, user_id: str) -> ProfileRecord | None:
        return await self._query(lambda tx: offers.get_profile(tx, user_id))

    async def create_offer(
        self, terms: OfferTerms, *, actor: str, ref: str | None = None, now: int
    ) -> OfferRecord:
        return await self._write_tx(lambda tx: offers.create_offer(tx, terms, actor=actor, ref=ref, now=now))

    async def create_offer_and_ping(
        self, terms: OfferTerms, *, actor: str, ref: str | None = None, now: int
    ) -> OfferCreated:
        return await self._write_tx(
            lambda tx: credit.create_offer_and_ping(tx, terms, actor=actor, ref=ref, now=now)
        )

    async def withdraw_offer(
        self, offer_id: str, *, actor: str, reason_code: str, ref: str | None = None, now: int
    ) -> OfferRecord:
        return await self._write_tx(
            lambda tx: offers.withdraw_offer(
                tx, offer_id, actor=actor, reason_code=reason_code, ref=ref, now=now
            )
        )

    async def get_offer(self, offer_id: str) -> OfferRecord | None:
        return await self._query(lambda tx: offers.get_offer(tx, offer_id))

    async def list_offers(self, user_id: str) -> list[OfferRecord]:
        return await self._read_tx(lambda tx: views.list_offers(tx, user_id))

    async def audit_trail(
        self, *, user_id: str | None = None, offer_id: str | None = None
    ) -> list[AuditRecord]:
        if (user_id is None) == (offer_id is None):
            raise ValueError("give exactly one of user_id and offer_id")
        return await self._query(lambda tx: offers.audit_trail(tx, user_id=user_id, offer_id=offer_id))

    # --- the outbox ----------------------------------------------------------------------------

    async def list_outbox(self, *, after_id: int = 0) -> list[OutboxRecord]:
        return await self._read_tx(lambda tx: outbox.outbox_after(tx, after_id))

    async def apply_offer(self, outbox_id: int, *, ref: str, now: int) -> ApplyOutcome:
        hook = self.fault_hook
        return await self._write_tx(
            lambda tx: outbox.apply_offer(tx, outbox_id, ref=ref, now=now, fault_hook=hook)
        )

    async def outbox_children(self, parent_id: int) -> list[OutboxRecord]:
        return await self._read_tx(lambda tx: outbox.pending_children(tx, parent_id))

    async def push_plan(self, outbox_id: int, *, claim_at: int | None = None) -> PushPlan | None:
        def plan(tx: Tx) -> PushPlan | None:
            return push.push_plan(tx, outbox_id, claim_at=claim_at)

        return await (self._read_tx(plan) if claim_at is None else self._write_tx(plan))

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
        return await self._write_tx(
            lambda tx: push.record_push(
                tx,
                outbox_id,
                user_id=user_id,
                sender=sender,
                sent=sent,
                attempt=attempt,
                retry_at=retry_at,
                now=now,
            )
        )

    async def skip_push(self, outbox_id: int, reason: PushOutcome, now: int) -> None:
        await self._write_tx(lambda tx: push.skip_push(tx, outbox_id, reason, now))

    async def push_attempts(self, user_id: str) -> list[PushAttemptRecord]:
        return await self._read_tx(lambda tx: push.push_attempts(tx, user_id))

    async def push_tokens(self, user_id: str) -> list[PushTokenRecord]:
        return await self._query(lambda tx: push.push_tokens(tx, user_id))

    async def relay_outbox(self, *, now: int, timeout_ms: int, max_attempts: int) -> RelayOutcome:
        return await self._write_tx(
            lambda tx: outbox.relay_outbox(tx, now=now, timeout_ms=timeout_ms, max_attempts=max_attempts)
        )

    async def expire_offers(self, *, now: int, limit: int) -> list[OfferRecord]:
        grace_ms = self.acceptance.grace_ms
        return await self._write_tx(
            lambda tx: offers.expire_offers(tx, now=now, grace_ms=grace_ms, limit=limit)
        )

    async def outbox_stats(self, *, now: int) -> OutboxStats:
        return await self._read_tx(lambda tx: outbox.outbox_stats(tx, now))

    async def dead_letters(self, *, limit: int, after_id: int = 0) -> list[DeadLetterRecord]:
        return await self._read_tx(lambda tx: outbox.dead_letters(tx, limit=limit, after_id=after_id))

    async def retry_dead(self, outbox_id: int, *, now: int) -> OutboxRecord:
        return await self._write_tx(lambda tx: outbox.retry_dead(tx, outbox_id, now=now))

    # --- analytics (read-only) ---------------------------------------------------------

    async def user_aggregates(self, user_id: str, first_day: str, last_day: str) -> list[AggregateRecord]:
        return await self._query(lambda tx: views.user_aggregates(tx, user_id, first_day, last_day))

    async def aggregate_groups(self, first_day: str, last_day: str) -> list[AggregateGroupRecord]:
        return await self._query(lambda tx: views.aggregate_groups(tx, first_day, last_day))

    # --- credit evaluation ---------------------------------------------------------------

    async def set_credit_features(self, features: CreditFeaturesRecord) -> None:
        await self._write_tx(lambda tx: credit.set_credit_features(tx, features))

    async def get_credit_features(self, user_id: str) -> CreditFeaturesRecord | None:
        return await self._query(lambda tx: credit.get_credit_features(tx, user_id))

    async def request_evaluation(
        self, user_id: str, evaluation_id: str, *, trigger: str, day: str, now: int
    ) -> EvaluationRequested:
        return await self._write_tx(
            lambda tx: credit.request_evaluation(
                tx, user_id, evaluation_id, trigger=trigger, day=day, now=now
            )
        )

    async def request_daily_evaluations(
        self, *, day: str, now: int, recent_ms: int, limit: int, new_id: Callable[[], str]
    ) -> list[EvaluationRequested]:
        return await self._write_tx(
            lambda tx: credit.request_daily_evaluations(
                tx, day=day, now=now, recent_ms=recent_ms, limit=limit, new_id=new_id
            )
        )

    async def get_evaluation(self, evaluation_id: str) -> EvaluationRecord | None:
        return await self._query(lambda tx: credit.get_evaluation(tx, evaluation_id))

    async def list_evaluations(self, user_id: str | None = None) -> list[EvaluationRecord]:
        return await self._read_tx(lambda tx: credit.list_evaluations(tx, user_id))

    async def evaluation_inputs(self, outbox_id: int) -> EvaluationInputs | None:
        return await self._read_tx(lambda tx: credit.evaluation_inputs(tx, outbox_id))

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
        return await self._write_tx(
            lambda tx: credit.complete_evaluation(
                tx,
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

    # --- the admin lists -----------------------------------------------------------------

    async def page_users(
        self, *, external_ref: str | None, after: Key | None, limit: int
    ) -> list[UserRecord]:
        return await self._query(
            lambda tx: lists.users(tx, external_ref=external_ref, after=after, limit=limit)
        )

    async def page_devices(
        self,
        *,
        user_id: str | None,
        platform: str | None,
        revoked: bool | None,
        after: Key | None,
        limit: int,
    ) -> list[DeviceRecord]:
        return await self._query(
            lambda tx: lists.devices(
                tx, user_id=user_id, platform=platform, revoked=revoked, after=after, limit=limit
            )
        )

    async def page_offers(
        self, *, status: str | None, user_id: str | None, after: Key | None, limit: int
    ) -> list[OfferRecord]:
        return await self._query(
            lambda tx: lists.offers(tx, status=status, user_id=user_id, after=after, limit=limit)
        )

    async def page_evaluations(
        self, *, status: str | None, user_id: str | None, after: Key | None, limit: int
    ) -> list[EvaluationRecord]:
        return await self._query(
            lambda tx: lists.evaluations(tx, status=status, user_id=user_id, after=after, limit=limit)
        )

    async def page_outbox(
        self, *, kind: str | None, state: str | None, after: Key | None, limit: int
    ) -> list[OutboxRecord]:
        return await self._query(
            lambda tx: lists.outbox(tx, kind=kind, state=state, after=after, limit=limit)
        )

    async def user_timeline(self, user_id: str, *, after: Key | None, limit: int) -> list[TimelineEntry]:
        # A read transaction: the user check and the events see one snapshot.
        return await self._read_tx(lambda tx: lists.timeline(tx, user_id, after=after, limit=limit))

    async def fleet_counts(self, now: int) -> FleetCounts:
        return await self._read_tx(lambda tx: lists.fleet_counts(tx, now))

    async def recent_activity(self, since: int) -> RecentActivity:
        return await self._read_tx(lambda tx: lists.recent_activity(tx, since))

    # --- operations --------------------------------------------------------------------------

    async def migration_status(self) -> MigrationStatus:
        applied = await self._query(
            lambda tx: [str(r[0]) for r in tx.execute("SELECT name FROM schema_migrations")]
        )
        return MigrationStatus(applied=sorted(applied), known=[m.name for m in MIGRATIONS])

    async def database_time_ms(self) -> int:
        return await self._query(lambda tx: int(tx.execute(self.NOW_MS_SQL).fetchone()[0]))

    # --- operator accounts ----------------------------------------------------------------

    async def create_operator(
        self, operator: OperatorRecord, *, actor: str, address: str | None, first: bool = False
    ) -> OperatorRecord:
        return await self._write_tx(
            lambda tx: operators.create_operator(tx, operator, actor=actor, address=address, first=first)
        )

    async def get_operator(self, username: str) -> OperatorRecord | None:
        return await self._query(lambda tx: operators.get_operator(tx, username))

    async def list_operators(self) -> list[OperatorRecord]:
        return await self._query(operators.list_operators)

    async def login_succeeded(
        self, operator: OperatorRecord, session: OperatorSessionRecord, address: str | None
    ) -> None:
        await self._write_tx(lambda tx: operators.login_succeeded(tx, operator, session, address))

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
        return await self._write_tx(
            lambda tx: operators.login_failed(
                tx,
                username,
                operator_id,
                address,
                now,
                window_start=window_start,
                max_failures=max_failures,
                locked_until=locked_until,
                reason=reason,
            )
        )

    async def session_operator(self, session_hash: str, now: int) -> OperatorRecord | None:
        return await self._query(lambda tx: operators.session_operator(tx, session_hash, now))

    async def end_session(self, session_hash: str, now: int, address: str | None) -> bool:
        return await self._write_tx(lambda tx: operators.end_session(tx, session_hash, now, address))

    async def set_operator_role(
        self, username: str, role: OperatorRole, *, actor: str, address: str | None, now: int
    ) -> OperatorRecord:
        return await self._write_tx(
            lambda tx: operators.set_role(tx, username, role, actor=actor, address=address, now=now)
        )

    async def disable_operator(
        self, username: str, *, actor: str, address: str | None, now: int
    ) -> OperatorRecord:
        return await self._write_tx(
            lambda tx: operators.disable(tx, username, actor=actor, address=address, now=now)
        )

    async def page_auth_audit(self, *, after: int | None, limit: int) -> list[AuthEventRecord]:
        return await self._query(lambda tx: operators.auth_events(tx, after=after, limit=limit))

    async def create_service_key(self, key: ServiceKeyRecord, *, address: str | None) -> ServiceKeyRecord:
        return await self._write_tx(lambda tx: operators.create_service_key(tx, key, address=address))

    async def service_key(self, key_id: str) -> ServiceKeyRecord | None:
        return await self._query(lambda tx: operators.service_key(tx, key_id))

    async def list_service_keys(self) -> list[ServiceKeyRecord]:
        return await self._query(operators.list_service_keys)

    async def revoke_service_key(
        self, key_id: str, *, actor: str, address: str | None, now: int
    ) -> ServiceKeyRecord:
        return await self._write_tx(
            lambda tx: operators.revoke_service_key(tx, key_id, actor=actor, address=address, now=now)
        )

    # --- the user's rights ------------------------------------------------------------------

    async def export_user(
        self, user_id: str, *, actor: str, address: str | None, now: int
    ) -> UserExportRecord:
        return await self._write_tx(
            lambda tx: exports.export_user(tx, user_id, actor=actor, address=address, now=now)
        )

    async def erase_user(self, user_id: str, *, actor: str, address: str | None, now: int) -> ErasureRecord:
        return await self._write_tx(
            lambda tx: erasure.erase_user(tx, user_id, actor=actor, address=address, now=now)
        )

    async def purge_wiped_devices(self, *, now: int, limit: int) -> WipedPurge:
        return await self._write_tx(lambda tx: erasure.purge_wiped_devices(tx, now=now, limit=limit))

    # --- retention -----------------------------------------------------------------------------

    async def purge_expired(self, cutoffs: RetentionCutoffs, *, limit: int) -> RetentionOutcome:
        return await self._write_tx(lambda tx: retention.purge_expired(tx, cutoffs, limit=limit))

    async def compact_change_logs(self, *, after_user_id: str, users: int, before: int) -> CompactionOutcome:
        return await self._write_tx(
            lambda tx: retention.compact_change_logs(
                tx, after_user_id=after_user_id, users=users, before=before
            )
        )

    # --- reviews of automated decisions --------------------------------------------------------

    async def page_reviews(self, *, status: str | None, after: Key | None, limit: int) -> list[ReviewRecord]:
        return await self._query(lambda tx: lists.reviews(tx, status=status, after=after, limit=limit))

    async def close_review(self, review_id: str, *, resolution: str, actor: str, now: int) -> ReviewClosed:
        return await self._write_tx(
            lambda tx: reviews.close_review(tx, review_id, resolution=resolution, actor=actor, now=now)
        )

    # --- model releases ------------------------------------------------------------------------

    async def publish_release(
        self, release: ModelReleaseRecord, files: Sequence[ModelFileRecord], *, address: str | None
    ) -> ModelReleaseRecord:
        return await self._write_tx(lambda tx: releases.publish(tx, release, files, address=address))

    async def set_rollout(
        self, release: int, rollout_bps: int, *, actor: str, address: str | None, now: int
    ) -> ModelReleaseRecord:
        return await self._write_tx(
            lambda tx: releases.set_rollout(tx, release, rollout_bps, actor=actor, address=address, now=now)
        )

    async def model_releases(self) -> list[ModelReleaseRecord]:
        return await self._query(releases.releases)

    async def model_file(self, release: int, name: str) -> ModelFileRecord | None:
        return await self._query(lambda tx: releases.release_file(tx, release, name))
