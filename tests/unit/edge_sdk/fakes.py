"""An in-process fake cloud behind the Transport seam, for engine unit tests.

It follows the HTTP contract closely enough for the engine (the exactly-once push rule from
``sync.push``, paging from ``sync.pull``, token rotation) and lets a test script faults:
each entry of ``script`` is consumed by one request and replaces or wraps its handling.
Consent follows the cloud's own rules (:mod:`cloud.domain.consent.rules`), so the fake is never
more lenient than the server: an aggregate is stored only under a recorded grant of
``share_aggregates``, changes from several devices are ordered by their skew-corrected
``created_at``, and every ``SetConsent`` appends a ``ConsentState`` listing every scope.
Real-server tests live in tests/integration.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from cloud.domain.consent.rules import (
    SUPERSEDED,
    ConsentOrder,
    aggregate_refusal,
    changed_at,
    consent_scopes,
    order_change,
)
from edge_sdk.errors import TransportError
from edge_sdk.sync_client.transport import (
    ENROLL_PATH,
    REFRESH_PATH,
    SYNC_PATH,
    TransportRequest,
    TransportResponse,
)
from sync.codec import (
    PROBLEM_JSON,
    CodecError,
    decode_enroll,
    decode_envelope,
    decode_mutation,
    decode_refresh,
    encode,
    media_type_of,
    peek_seq,
)
from sync.messages import (
    AckNotice,
    Change,
    ConsentScope,
    ConsentState,
    MutationResult,
    Notice,
    Problem,
    SetConsent,
    SubmitAggregate,
    SyncReply,
    TokenPair,
    Withdrawn,
)
from sync.pull import decode_cursor, encode_cursor
from sync.push import Action, Resend, judge_resend, plan_push
from sync.timing import clock_skew_ms

HOUR_MS = 3_600_000


class LoseReply:
    """Script entry: the cloud handles the request, then the reply is lost."""


class Clock:
    """A settable device clock in epoch ms."""

    def __init__(self, now_ms: int = 1_700_000_000_000) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms

    def advance(self, ms: int) -> None:
        self.now_ms += ms


@dataclass
class FakeDevice:
    device_id: str
    user_id: str
    last_seq: int = 0
    access_token: str = ""
    refresh_token: str = ""
    spent_refresh: set[str] = field(default_factory=set)
    just_spent: str | None = None
    current_pair: TokenPair | None = None
    revoked: bool = False
    replaces: str | None = None
    """The ``replaces_device_id`` it enrolled with."""
    mutations: list[Any] = field(default_factory=list)
    """Every mutation processed (applied or rejected), in order."""
    digests: dict[int, bytes] = field(default_factory=dict)
    results: dict[int, MutationResult] = field(default_factory=dict)
    """The result of every processed seq, replayed to a resend of the same content (as the cloud does)."""
    """Digest of the mutation processed at each seq, to answer ``seq_conflict`` when another
    mutation arrives under a processed seq (the device's store was restored from a backup)."""


@dataclass
class FakeUser:
    user_id: str
    changes: list[tuple[int, bytes]] = field(default_factory=list)
    """(version, msgpack change); raw so tests can add change types this build does not know."""
    consent: dict[ConsentScope, bool] = field(default_factory=dict)
    """Every scope the user set, granted or revoked; a scope never set is not granted."""
    consent_changed_at: dict[ConsentScope, int] = field(default_factory=dict)
    """When each scope's recorded change was made, on the cloud's clock (skew-corrected)."""
    acked: set[str] = field(default_factory=set)
    notices: dict[str, Notice] = field(default_factory=dict)
    aggregates: list[SubmitAggregate] = field(default_factory=list)
    """Aggregates held for the user, stored only under a recorded grant of ``share_aggregates``;
    a revoke deletes them, as the cloud does."""

    @property
    def version(self) -> int:
        return self.changes[-1][0] if self.changes else 0


class FakeCloud:
    """Implements enroll, token refresh and sync in memory; records every request."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.users: dict[str, FakeUser] = {}
        self.devices: dict[str, FakeDevice] = {}
        self.codes: dict[str, str] = {}
        self.requests: list[TransportRequest] = []
        self.script: list[TransportResponse | Exception | LoseReply | Callable[[], None]] = []
        self.server_offset_ms = 0
        """Cloud clock minus device clock."""
        self.next_sync_after_s = 900
        self.max_body_bytes: int | None = None
        """When set, a sync body larger than this is answered ``413 body_too_large``."""
        self.check_seq_conflicts = True
        """Answer ``409 seq_conflict`` to a processed seq pushed with other content; off, the
        mutation is a plain duplicate (as a cloud without the check would treat it)."""
        self.files: dict[str, bytes] = {}
        """Model release files by path, answered to an authenticated ``GET``."""
        self._ids = itertools.count(1)

    # --- admin side ----------------------------------------------------------

    def ensure_user(self, user_id: str) -> FakeUser:
        return self.users.setdefault(user_id, FakeUser(user_id))

    def new_code(self, user_id: str = "u1") -> str:
        self.ensure_user(user_id)
        code = f"code-{next(self._ids)}"
        self.codes[code] = user_id
        return code

    def append_change(self, user_id: str, change: Change) -> int:
        user = self.users[user_id]
        version = user.version + 1
        change = msgspec.structs.replace(change, version=version)
        user.changes.append((version, encode(change)))
        return version

    def append_raw_change(self, user_id: str, body: dict[str, Any]) -> int:
        user = self.users[user_id]
        version = user.version + 1
        user.changes.append((version, msgspec.msgpack.encode({**body, "version": version})))
        return version

    def add_notice(self, user_id: str, notice_id: str) -> int:
        notice = Notice(
            version=1, notice_id=notice_id, kind="info", title=f"T {notice_id}", body="b", created_at=1
        )
        self.users[user_id].notices[notice_id] = notice
        return self.append_change(user_id, notice)

    def only_device(self) -> FakeDevice:
        (device,) = self.devices.values()
        return device

    def expire_access_tokens(self) -> None:
        for device in self.devices.values():
            device.access_token = f"expired-{next(self._ids)}"

    def sync_requests(self) -> list[TransportRequest]:
        return [r for r in self.requests if r.path == SYNC_PATH]

    # --- Transport -----------------------------------------------------------

    def send(self, request: TransportRequest) -> TransportResponse:
        self.requests.append(request)
        lose = False
        if self.script:
            entry = self.script.pop(0)
            if isinstance(entry, TransportResponse):
                return entry
            if isinstance(entry, Exception):
                raise entry
            if isinstance(entry, LoseReply):
                lose = True
            else:
                entry()
        response = self._handle(request)
        if lose:
            raise TransportError("reply lost")
        return response

    def close(self) -> None:
        pass

    # --- handlers --------------------------------------------------------------

    def _now(self) -> int:
        return self.clock() + self.server_offset_ms

    @staticmethod
    def problem(status: int, code: str, **extra: Any) -> TransportResponse:
        body = msgspec.json.encode(Problem(title=code, status=status, code=code, **extra))
        return TransportResponse(status, body, {"Content-Type": PROBLEM_JSON})

    def _reply(self, status: int, message: msgspec.Struct, request: TransportRequest) -> TransportResponse:
        media = media_type_of(request.content_type)
        assert media is not None
        return TransportResponse(status, encode(message, media), {"Content-Type": str(media)})

    def _issue(self, device: FakeDevice) -> TokenPair:
        n = next(self._ids)
        device.access_token = f"at-{device.device_id}-{n}"
        device.refresh_token = f"rt-{device.device_id}-{n}"
        device.current_pair = TokenPair(
            device_id=device.device_id,
            user_id=device.user_id,
            access_token=device.access_token,
            access_expires_at=self._now() + HOUR_MS,
            refresh_token=device.refresh_token,
            refresh_expires_at=self._now() + 90 * 24 * HOUR_MS,
        )
        return device.current_pair

    def _handle(self, request: TransportRequest) -> TransportResponse:
        if request.method == "GET":
            if request.bearer is None:
                return self.problem(401, "token_missing")
            body = self.files.get(request.path)
            return self.problem(404, "not_found") if body is None else TransportResponse(200, body)
        media = media_type_of(request.content_type)
        assert media is not None
        if request.path == ENROLL_PATH:
            enroll = decode_enroll(request.body, media)
            user_id = self.codes.pop(enroll.code, None)
            if user_id is None:
                return self.problem(401, "enrollment_code_invalid")
            replaced = self.devices.get(enroll.replaces_device_id or "")
            if enroll.replaces_device_id is not None:
                if replaced is None or replaced.user_id != user_id:
                    self.codes[enroll.code] = user_id  # a refusal leaves the code unspent
                    return self.problem(403, "replaces_device_invalid")
                replaced.revoked = True
            device = FakeDevice(
                device_id=f"d{next(self._ids)}", user_id=user_id, replaces=enroll.replaces_device_id
            )
            self.devices[device.device_id] = device
            return self._reply(201, self._issue(device), request)
        if request.path == REFRESH_PATH:
            refresh = decode_refresh(request.body, media)
            device = self.devices[refresh.device_id]
            if device.revoked:
                return self.problem(403, "device_revoked")
            if refresh.refresh_token == device.just_spent and device.current_pair is not None:
                # Grace: the reply to the rotation was lost; hand out the same new pair again.
                return self._reply(200, device.current_pair, request)
            if refresh.refresh_token in device.spent_refresh:
                device.revoked = True
                return self.problem(401, "refresh_reused")
            if refresh.refresh_token != device.refresh_token:
                return self.problem(401, "refresh_invalid")
            device.spent_refresh.add(refresh.refresh_token)
            device.just_spent = refresh.refresh_token
            return self._reply(200, self._issue(device), request)
        assert request.path == SYNC_PATH
        return self._sync(request)

    @staticmethod
    def digest(raw: msgspec.Raw | bytes, media: Any) -> bytes:
        """Digest of one pushed mutation, independent of the media type it came in."""
        try:
            canonical = encode(decode_mutation(raw, media))
        except CodecError:
            canonical = bytes(raw)
        return hashlib.sha256(canonical).digest()

    @staticmethod
    def _is_withdrawn(raw: msgspec.Raw | bytes, media: Any) -> bool:
        """A ``Withdrawn`` at a processed seq is a plain duplicate (protocol §4: it carries no data)."""
        try:
            return isinstance(decode_mutation(raw, media), Withdrawn)
        except CodecError:
            return False

    def _sync(self, request: TransportRequest) -> TransportResponse:
        media = media_type_of(request.content_type)
        assert media is not None
        if self.max_body_bytes is not None and len(request.body) > self.max_body_bytes:
            return self.problem(413, "body_too_large")
        device = next((d for d in self.devices.values() if d.access_token == request.bearer), None)
        if device is None:
            return self.problem(401, "token_invalid")
        if device.revoked:
            return self.problem(403, "device_revoked")
        try:
            envelope = decode_envelope(request.body, media)
            cursor_version = decode_cursor(envelope.cursor)
        except (CodecError, ValueError):
            return self.problem(400, "invalid_body")
        assert envelope.device_id == device.device_id
        assert len(envelope.push) <= 500
        user = self.users[device.user_id]
        if cursor_version > user.version:
            return self.problem(400, "invalid_cursor")
        seqs = [peek_seq(raw, media) for raw in envelope.push]
        assert all(s is not None for s in seqs)
        plan = plan_push(device.last_seq, [s for s in seqs if s is not None])
        for step in plan.steps:
            known = device.digests.get(step.seq)
            raw = envelope.push[step.index]
            if (
                self.check_seq_conflicts
                and step.action is Action.DUPLICATE
                and known is not None
                and known != self.digest(raw, media)
                and not self._is_withdrawn(raw, media)
            ):
                # Refused as a whole before anything is processed, like the real cloud.
                return self.problem(409, "seq_conflict")
        results: list[MutationResult] = []
        for step in plan.steps:
            if step.action is Action.DUPLICATE:
                raw = envelope.push[step.index]
                kept = device.results.get(step.seq)
                resend = judge_resend(
                    stored_digest=device.digests.get(step.seq),
                    has_result=kept is not None,
                    pushed_digest=self.digest(raw, media),
                    withdrawn=self._is_withdrawn(raw, media),
                )
                if resend is Resend.REPLAY and kept is not None:
                    results.append(msgspec.structs.replace(kept, replay=True))
                else:  # a conflict only reaches here with check_seq_conflicts off
                    results.append(MutationResult(seq=step.seq, status="duplicate"))
                continue
            mutation = decode_mutation(envelope.push[step.index], media)
            device.mutations.append(mutation)
            device.digests[step.seq] = self.digest(envelope.push[step.index], media)
            status, code, detail = "applied", None, None
            if isinstance(mutation, SubmitAggregate):
                refusal = aggregate_refusal(user.consent.get(ConsentScope.SHARE_AGGREGATES))
                if refusal is None:
                    user.aggregates.append(mutation)
                else:
                    status, code, detail = "rejected", refusal[0].value, refusal[1]
            elif isinstance(mutation, SetConsent):
                if self._set_consent(user, mutation, clock_skew_ms(envelope.device_time, self._now())):
                    detail = SUPERSEDED
            elif isinstance(mutation, AckNotice):
                notice = user.notices.get(mutation.notice_id)
                if notice is None:
                    status, code = "rejected", "unknown_notice"
                elif mutation.notice_id not in user.acked:
                    user.acked.add(mutation.notice_id)
                    self.append_change(user.user_id, msgspec.structs.replace(notice, acked=True))
            elif type(mutation).__name__ in ("AcceptOffer", "DeclineOffer"):
                status, code = "rejected", "unknown_offer"
            result = MutationResult(seq=step.seq, status=status, code=code, detail=detail)
            device.results[step.seq] = result
            results.append(result)
        device.last_seq = plan.last_seq
        page = [(v, c) for v, c in user.changes if v > cursor_version][: envelope.pull_limit]
        has_more = len([v for v, _ in user.changes if v > cursor_version]) > len(page)
        new_version = page[-1][0] if page else cursor_version
        reply = SyncReply(
            protocol=1,
            last_seq=device.last_seq,
            results=results,
            expected_seq=plan.expected_seq,
            changes=[],
            cursor=encode_cursor(new_version),
            has_more=has_more,
            server_time=self._now(),
            next_sync_after_s=self.next_sync_after_s,
        )
        # Changes are spliced in raw so unknown types reach the client as the cloud sent them.
        body = self._with_raw_changes(reply, [c for _, c in page], media)
        return TransportResponse(200, body, {"Content-Type": str(media)})

    def _set_consent(self, user: FakeUser, mutation: SetConsent, skew_ms: int) -> bool:
        """Apply one ``SetConsent`` as the cloud does; ``True`` when it was stale (a no-op)."""
        now = self._now()
        at = changed_at(mutation.created_at, skew_ms, now)
        stale = order_change(at, user.consent_changed_at.get(mutation.scope)) is ConsentOrder.STALE
        if not stale:
            user.consent[mutation.scope] = mutation.granted
            user.consent_changed_at[mutation.scope] = at
            if mutation.scope is ConsentScope.SHARE_AGGREGATES and not mutation.granted:
                user.aggregates.clear()
        # Also after a stale change: the device that sent it learns the consent that stands.
        scopes = consent_scopes({scope.value: granted for scope, granted in user.consent.items()})
        self.append_change(user.user_id, ConsentState(version=1, scopes=scopes))
        return stale

    @staticmethod
    def _with_raw_changes(reply: SyncReply, changes: list[bytes], media: Any) -> bytes:
        from sync.codec import MediaType

        if media is MediaType.MSGPACK:
            as_dict = msgspec.msgpack.decode(encode(reply))
            as_dict["changes"] = [msgspec.msgpack.decode(c) for c in changes]
            return msgspec.msgpack.encode(as_dict)
        as_dict = msgspec.json.decode(encode(reply, media))
        as_dict["changes"] = [msgspec.msgpack.decode(c) for c in changes]
        return msgspec.json.encode(as_dict)
