"""The host-facing API: ``call(method, arguments_json) -> reply_json``, shaped like Flutter's
``MethodChannel`` so the glue on each platform is a few lines.

A reply is ``{"ok": true, "result": …}`` or ``{"ok": false, "error": {"code", "message",
"details"}}`` (:mod:`mobile_bridge.errors`). No exception crosses the boundary: whatever a host
passes, :meth:`Bridge.call` returns a reply string.

Threads. Any method may be called from any thread. ``record`` and the readers return at once;
``open``, ``enroll``, ``sync``, ``handlePush``, ``process`` (the model) and ``eraseLocalData`` do
disk, network or inference work and must stay off the UI thread (:data:`METHODS` says which).
``close`` waits for the calls in flight to finish, and every call after it answers ``not_open``.
"""

from __future__ import annotations

import dataclasses
import logging
import statistics
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Generic, TypeVar

import msgspec

from edge_sdk.capture.events import AppEvent, Event, KeyEvent, MotionEvent, TouchEvent
from edge_sdk.client import EdgeClient
from edge_sdk.errors import DeviceRevoked, DeviceStateRolledBack, EdgeError
from edge_sdk.inference.backends import HostBackend
from edge_sdk.privacy.mechanism import RandomSource
from edge_sdk.privacy.scores import local_day
from edge_sdk.privacy.settings import PrivacySettings
from edge_sdk.settings import EdgeSettings, PipelineSettings
from edge_sdk.sync_client.outcome import SyncOutcome, SyncStatus
from edge_sdk.sync_client.transport import Transport
from mobile_bridge import payloads as p
from mobile_bridge.errors import BridgeCode, BridgeError, sdk_code, sdk_details
from mobile_bridge.host import EventSink, HostInference, InferenceHook
from sync.messages import AcceptOffer, ConsentScope

logger = logging.getLogger(__name__)

A = TypeVar("A", bound=p.Args)
R = TypeVar("R", bound=p.Result)

STORE_FILE: Final = "empathic-credit.sqlite3"
"""The SDK's store inside the host's ``dataDir``."""
MODEL_DIR: Final = "models"
"""Where the host inference hook finds the verified model file (``modelPath``)."""
PERIODIC_SYNC_MS: Final = 15 * 60_000
"""``nextSyncDelay`` when nothing is due sooner: WorkManager's shortest periodic interval."""


@dataclass(frozen=True, slots=True)
class Method(Generic[A]):
    """One method of the bridge: its arguments, what it does and whether it may block."""

    name: str
    args: type[A]
    result: type[msgspec.Struct] | None
    blocking: bool
    summary: str
    run: Callable[[Bridge, A], Any]


METHODS: dict[str, Method[Any]] = {}


def method(
    name: str, args: type[A], result: type[msgspec.Struct] | None, *, blocking: bool, summary: str
) -> Callable[[Callable[[Bridge, A], Any]], Callable[[Bridge, A], Any]]:
    def register(fn: Callable[[Bridge, A], Any]) -> Callable[[Bridge, A], Any]:
        METHODS[name] = Method(name, args, result, blocking, summary, fn)
        return fn

    return register


_encoder: Final = msgspec.json.Encoder()
_decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {}


def _decoder(kind: type[A]) -> msgspec.json.Decoder[A]:
    decoder = _decoders.get(kind)
    if decoder is None:
        decoder = _decoders[kind] = msgspec.json.Decoder(kind)
    return decoder


def _ok(result: Any) -> str:
    return _encoder.encode({"ok": True, "result": result}).decode()


def _error(code: str, message: str, details: dict[str, Any] | None = None) -> str:
    return _encoder.encode(
        {"ok": False, "error": {"code": code, "message": message, "details": details or {}}}
    ).decode()


def _bridge_error_in(exc: BaseException) -> BridgeError | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, BridgeError):
            return seen
        seen = seen.__cause__
    return None


class Bridge:
    """One SDK instance behind the string API. A host app holds one (``mobile_bridge.call`` uses
    a process-wide one).

    The keyword arguments are for Python callers only (the fleet simulator, tests): a transport,
    a clock and the random source of the randomized response. Nothing a host passes through
    :meth:`call` can reach them; the SDK's defaults (the OS's random source, the wall clock, HTTP)
    serve every host.
    """

    def __init__(
        self,
        *,
        transport: Transport | None = None,
        clock_ms: Callable[[], int] | None = None,
        random: RandomSource | None = None,
    ) -> None:
        self._transport = transport
        self._clock_ms = clock_ms
        self._random = random
        self._client: EdgeClient | None = None
        self._sink: EventSink | None = None
        self._hook: InferenceHook | None = None
        self._state = threading.Condition()
        self._in_flight = 0
        self._closing = False
        self._opening = False
        # Events wait here until the call that caused them has left the client (a sink may call
        # the bridge again, ``close`` included, which waits for the calls in flight).
        self._events = threading.local()

    # --- what the host registers -----------------------------------------------------------

    def set_event_sink(self, sink: EventSink | None) -> None:
        """``sink(event_json)`` hears of offers and profile changes, notices, wipes and a lost
        identity (:class:`~mobile_bridge.payloads.Event`); ``None`` stops the events."""
        self._sink = sink

    def set_inference_host(self, hook: InferenceHook | None) -> None:
        """Register the host as the inference backend (:mod:`mobile_bridge.host`); takes effect at
        the next ``open`` with ``inference: "host"``."""
        self._hook = hook

    # --- the entry point -------------------------------------------------------------------

    def call(self, method_name: object, arguments_json: object = None) -> str:
        """Run ``method_name`` with its JSON arguments; always returns a reply string."""
        outer = getattr(self._events, "queue", None)
        self._events.queue = []
        try:
            return self._call(method_name, arguments_json)
        except BaseException as exc:  # the boundary: nothing may cross it, a bug least of all
            if not isinstance(exc, Exception):
                raise  # KeyboardInterrupt / SystemExit belong to the process, not to the host
            logger.exception("bridge call %r failed", method_name)
            return _error(BridgeCode.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}")
        finally:
            queued, self._events.queue = self._events.queue, outer
            self._deliver(queued)

    def _call(self, method_name: object, arguments_json: object) -> str:
        entry = METHODS.get(method_name) if isinstance(method_name, str) else None
        if entry is None:
            return _error(BridgeCode.NOT_IMPLEMENTED, f"no method {method_name!r}")
        try:
            args = self._decode(entry, arguments_json)
        except BridgeError as exc:
            return _error(exc.code, exc.message, exc.details)
        try:
            return _ok(entry.run(self, args))
        except BridgeError as exc:
            return _error(exc.code, exc.message, exc.details)
        except EdgeError as exc:
            inner = _bridge_error_in(exc)
            if inner is not None:
                return _error(inner.code, inner.message, inner.details)
            return _error(sdk_code(exc), str(exc), sdk_details(exc))

    @staticmethod
    def _decode(entry: Method[A], arguments_json: object) -> A:
        if arguments_json is None:
            arguments_json = "{}"
        if not isinstance(arguments_json, str | bytes):
            raise BridgeError(BridgeCode.INVALID_JSON, "arguments must be a JSON string")
        if arguments_json.strip() in ("", "null", b"", b"null"):
            arguments_json = "{}"  # a method without arguments, called as the platform sends it
        try:
            return _decoder(entry.args).decode(arguments_json)
        except msgspec.ValidationError as exc:
            path = str(exc).rpartition(" - at `")[2].rstrip("`") if " - at `" in str(exc) else "$"
            raise BridgeError(BridgeCode.INVALID_ARGUMENTS, str(exc), {"path": path}) from None
        except msgspec.DecodeError as exc:
            raise BridgeError(BridgeCode.INVALID_JSON, str(exc)) from None
        except RecursionError:
            raise BridgeError(BridgeCode.INVALID_JSON, "the arguments are nested too deeply") from None
        except UnicodeEncodeError as exc:
            # A str holding a lone surrogate, which no UTF-8 JSON can carry.
            raise BridgeError(BridgeCode.INVALID_JSON, f"the arguments are not valid text: {exc}") from None

    # --- lifecycle -------------------------------------------------------------------------

    @contextmanager
    def client(self) -> Iterator[EdgeClient]:
        """The open client, kept open until the block ends (``close`` waits for it)."""
        with self._state:
            if self._client is None or self._closing:
                raise BridgeError(BridgeCode.NOT_OPEN, "call open first")
            self._in_flight += 1
            client = self._client
        try:
            yield client
        finally:
            with self._state:
                self._in_flight -= 1
                self._state.notify_all()

    def _open(self, args: p.OpenArgs) -> p.OpenResult:
        with self._state:
            if self._client is not None or self._opening:
                raise BridgeError(BridgeCode.ALREADY_OPEN, "the bridge is open; close it first")
            if args.inference == "host" and self._hook is None:
                raise BridgeError(
                    BridgeCode.NO_INFERENCE_HOST, "inference 'host' needs set_inference_host first"
                )
            self._opening = True
        # The store is opened (disk work) outside the lock: other threads' calls answer
        # ``not_open`` meanwhile instead of waiting for it.
        client: EdgeClient | None = None
        try:
            client = self._new_client(args)
            status = client.status()
            return p.OpenResult(enrolled=status.enrolled, device_id=status.device_id)
        except BaseException:
            if client is not None:  # a failed open leaves nothing open
                client.close()
                client = None
            raise
        finally:
            with self._state:
                self._client = client
                self._opening = False

    def _new_client(self, args: p.OpenArgs) -> EdgeClient:
        folder = Path(args.data_dir)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if not folder.is_dir():
                raise NotADirectoryError(args.data_dir)
        except (OSError, ValueError) as exc:
            raise BridgeError(
                BridgeCode.INVALID_ARGUMENTS, f"dataDir is not a usable folder: {exc}", {"path": "$.dataDir"}
            ) from None
        settings = EdgeSettings(
            base_url=args.server_url,
            db_path=folder / STORE_FILE,
            platform=args.platform,
            app_version=args.app_version,
            locale=args.locale,
            timeout_s=args.network_timeout_s,
        )
        if self._clock_ms is not None:
            settings = dataclasses.replace(settings, clock_ms=self._clock_ms)
        pipeline = PipelineSettings(release_public_key=args.release_public_key)
        if args.inference == "host":
            hook = self._hook
            assert hook is not None  # checked by _open
            host = HostInference(hook, folder / MODEL_DIR, args.inference_timeout_s)
            pipeline = dataclasses.replace(pipeline, backend=lambda: HostBackend(host))
        privacy = PrivacySettings(random=self._random)
        return EdgeClient(settings, transport=self._transport, privacy=privacy, pipeline=pipeline)

    def _close(self) -> None:
        with self._state:
            client = self._client
            if client is None or self._closing:
                return  # closed, or another close is waiting for the calls in flight
            self._closing = True
            while self._in_flight:
                self._state.wait()
            self._client = None
            self._closing = False
        client.close()

    # --- events ----------------------------------------------------------------------------

    def _emit(self, event: str, data: dict[str, str] | None = None) -> None:
        """Queue an event for the sink; it is delivered when the current call returns."""
        queue = getattr(self._events, "queue", None)
        text = _encoder.encode(p.Event(event=event, data=data or {})).decode()  # type: ignore[arg-type]
        if queue is None:  # outside a call (Python callers): deliver at once
            self._deliver([text])
        else:
            queue.append(text)

    def _deliver(self, events: list[str]) -> None:
        sink = self._sink
        if sink is None:
            return
        for text in events:
            try:
                sink(text)
            except Exception:  # the host's sink failing must not fail the call that caused the event
                logger.exception("the host's event sink failed on %s", text)

    def _synced(self, client: EdgeClient, force: bool) -> p.SyncResult:
        offers_before = client.offers()
        profile_before = client.profile()
        notices_before = {n.notice_id for n in client.notices()}
        try:
            outcome = client.sync(force=force)
        except (DeviceRevoked, DeviceStateRolledBack) as exc:
            self._emit("reenrollmentNeeded", {"code": sdk_code(exc)})
            raise
        if outcome.status is SyncStatus.WIPED:
            self._emit("deviceWiped")
        offers_changed = client.offers() != offers_before
        profile_changed = client.profile() != profile_before
        new_notices = [n.notice_id for n in client.notices() if n.notice_id not in notices_before]
        if offers_changed:
            self._emit("offersChanged")
        if profile_changed:
            self._emit("profileChanged")
        for notice_id in new_notices:
            self._emit("notice", {"noticeId": notice_id})
        return _sync_result(outcome, offers_changed, profile_changed, new_notices)


def _sync_result(
    outcome: SyncOutcome, offers_changed: bool, profile_changed: bool, new_notices: list[str]
) -> p.SyncResult:
    return p.SyncResult(
        status=outcome.status.value,
        pushed=outcome.pushed,
        pulled=outcome.pulled,
        rejected=len(outcome.rejected),
        next_attempt_at=outcome.next_attempt_at,
        offers_changed=offers_changed,
        profile_changed=profile_changed,
        new_notices=new_notices,
    )


def _event(e: p.EventArgs) -> Event:
    if isinstance(e, p.KeyEventArgs):
        return KeyEvent(e.down_ms, e.up_ms, e.key_class)
    if isinstance(e, p.TouchEventArgs):
        return TouchEvent(e.t_ms, e.phase, e.pressure, e.size, e.x, e.y)
    if isinstance(e, p.MotionEventArgs):
        return MotionEvent(e.t_ms, e.ax, e.ay, e.az)
    return AppEvent(e.t_ms, e.kind, e.screen)


def _as(kind: type[R], view: object) -> R:
    """The SDK's ``view`` as the bridge's result ``kind``: its fields read by name (the result
    declares which; a view may hold more)."""
    return msgspec.convert(view, kind, from_attributes=True)


def _consent(client: EdgeClient) -> p.ConsentResult:
    view = client.consent()
    return p.ConsentResult(scopes=dict(view.scopes), pending=list(view.pending))


def _pending_accepts(client: EdgeClient) -> list[str]:
    return [m.offer_id for m in client.store.pending(["AcceptOffer"]) if isinstance(m, AcceptOffer)]


# --- the methods, in the order of the docs' table --------------------------------------------------


@method(
    "open", p.OpenArgs, p.OpenResult, blocking=True, summary="Open (creating) the SDK's store in dataDir."
)
def _m_open(bridge: Bridge, args: p.OpenArgs) -> p.OpenResult:
    return bridge._open(args)


@method("close", p.NoArgs, None, blocking=True, summary="Wait for calls in flight, then close the store.")
def _m_close(bridge: Bridge, args: p.NoArgs) -> None:
    bridge._close()


@method("status", p.NoArgs, p.StatusResult, blocking=False, summary="Identity, outbox size and sync timing.")
def _m_status(bridge: Bridge, args: p.NoArgs) -> p.StatusResult:
    with bridge.client() as c:
        return _as(p.StatusResult, c.status())


@method(
    "enroll", p.EnrollArgs, p.EnrollResult, blocking=True, summary="Trade an enrollment code for an identity."
)
def _m_enroll(bridge: Bridge, args: p.EnrollArgs) -> p.EnrollResult:
    with bridge.client() as c:
        return p.EnrollResult(device_id=c.enroll(args.code))


@method("grantConsent", p.ConsentArgs, p.SeqResult, blocking=False, summary="Grant a consent scope.")
def _m_grant(bridge: Bridge, args: p.ConsentArgs) -> p.SeqResult:
    with bridge.client() as c:
        return p.SeqResult(seq=c.set_consent(args.scope, True))


@method("revokeConsent", p.ConsentArgs, p.SeqResult, blocking=False, summary="Revoke a consent scope.")
def _m_revoke(bridge: Bridge, args: p.ConsentArgs) -> p.SeqResult:
    with bridge.client() as c:
        return p.SeqResult(seq=c.set_consent(args.scope, False))


@method("consent", p.NoArgs, p.ConsentResult, blocking=False, summary="Every scope, pending changes applied.")
def _m_consent(bridge: Bridge, args: p.NoArgs) -> p.ConsentResult:
    with bridge.client() as c:
        return _consent(c)


@method(
    "record", p.RecordArgs, p.RecordResult, blocking=False, summary="Buffer interaction events in memory."
)
def _m_record(bridge: Bridge, args: p.RecordArgs) -> p.RecordResult:
    with bridge.client() as c:
        return p.RecordResult(kept=c.record([_event(e) for e in args.events]))


@method(
    "process", p.ProcessArgs, p.ProcessResult, blocking=True, summary="Score closed windows with the model."
)
def _m_process(bridge: Bridge, args: p.ProcessArgs) -> p.ProcessResult:
    with bridge.client() as c:
        return _as(p.ProcessResult, c.process(args.now_ms, tz_offset_min=args.tz_offset_min))


@method(
    "updateModel",
    p.NoArgs,
    p.ModelUpdateResult,
    blocking=True,
    summary="Install the newest signed model release announced, after every check (needs the network).",
)
def _m_update_model(bridge: Bridge, args: p.NoArgs) -> p.ModelUpdateResult:
    with bridge.client() as c:
        return _as(p.ModelUpdateResult, c.update_model())


@method(
    "releaseDailyAggregates",
    p.ReleaseArgs,
    p.ReleaseResult,
    blocking=True,
    summary="Randomize complete days into aggregates to send.",
)
def _m_release(bridge: Bridge, args: p.ReleaseArgs) -> p.ReleaseResult:
    with bridge.client() as c:
        return _as(p.ReleaseResult, c.release_daily_aggregates(args.now_ms, tz_offset_min=args.tz_offset_min))


@method("sync", p.SyncArgs, p.SyncResult, blocking=True, summary="Push pending writes, pull what changed.")
def _m_sync(bridge: Bridge, args: p.SyncArgs) -> p.SyncResult:
    with bridge.client() as c:
        return bridge._synced(c, args.force)


@method("offers", p.NoArgs, p.OffersResult, blocking=False, summary="Offers as the user should see them.")
def _m_offers(bridge: Bridge, args: p.NoArgs) -> p.OffersResult:
    with bridge.client() as c:
        return p.OffersResult(offers=[_as(p.OfferResult, o) for o in c.offers()])


@method("acceptOffer", p.OfferArgs, p.SeqResult, blocking=False, summary="Accept an offer (offline is fine).")
def _m_accept(bridge: Bridge, args: p.OfferArgs) -> p.SeqResult:
    with bridge.client() as c:
        return p.SeqResult(seq=c.accept_offer(args.offer_id))


@method("declineOffer", p.DeclineArgs, p.SeqResult, blocking=False, summary="Decline an offer.")
def _m_decline(bridge: Bridge, args: p.DeclineArgs) -> p.SeqResult:
    with bridge.client() as c:
        return p.SeqResult(seq=c.decline_offer(args.offer_id, args.reason))


@method(
    "profile", p.NoArgs, p.ProfileResult, blocking=False, summary="The credit profile, or null before one."
)
def _m_profile(bridge: Bridge, args: p.NoArgs) -> p.ProfileResult | None:
    with bridge.client() as c:
        profile = c.profile()
        return None if profile is None else _as(p.ProfileResult, profile)


@method("notices", p.NoArgs, p.NoticesResult, blocking=False, summary="Notices, newest last.")
def _m_notices(bridge: Bridge, args: p.NoArgs) -> p.NoticesResult:
    with bridge.client() as c:
        return p.NoticesResult(notices=[_as(p.NoticeResult, n) for n in c.notices()])


@method("ackNotice", p.AckArgs, p.SeqResult, blocking=False, summary="Mark a notice as read.")
def _m_ack(bridge: Bridge, args: p.AckArgs) -> p.SeqResult:
    with bridge.client() as c:
        return p.SeqResult(seq=c.ack_notice(args.notice_id))


@method(
    "requestReview",
    p.ReviewArgs,
    p.SeqResult,
    blocking=False,
    summary="Ask a person to review the decision behind an offer; the answer comes as a notice.",
)
def _m_review(bridge: Bridge, args: p.ReviewArgs) -> p.SeqResult:
    with bridge.client() as c:
        return p.SeqResult(seq=c.request_review(args.offer_id, args.note))


@method("privacyLedger", p.NoArgs, p.LedgerResult, blocking=False, summary="Privacy budget spent per day.")
def _m_ledger(bridge: Bridge, args: p.NoArgs) -> p.LedgerResult:
    with bridge.client() as c:
        ledger = c.privacy_ledger()
        return p.LedgerResult(
            days=[_as(p.LedgerDay, e) for e in ledger.entries],
            lifetime_epsilon=ledger.lifetime_epsilon,
            lifetime_cap=ledger.lifetime_cap,
            remaining=ledger.remaining,
        )


@method(
    "windowScoreSummary",
    p.WindowSummaryArgs,
    p.WindowSummaryResult,
    blocking=False,
    summary="The user's own emotion estimates per day.",
)
def _m_windows(bridge: Bridge, args: p.WindowSummaryArgs) -> p.WindowSummaryResult:
    with bridge.client() as c:
        scores = c.window_scores()
    by_day: dict[str, list[tuple[float, float, float]]] = {}
    for s in scores:
        by_day.setdefault(local_day(s.end_ms, args.tz_offset_min), []).append(
            (s.stress_prob, s.valence, s.arousal)
        )
    days = [
        p.WindowDay(
            day=day,
            windows=len(rows),
            mean_stress=statistics.fmean(r[0] for r in rows),
            mean_valence=statistics.fmean(r[1] for r in rows),
            mean_arousal=statistics.fmean(r[2] for r in rows),
        )
        for day, rows in sorted(by_day.items())
    ]
    return p.WindowSummaryResult(windows=len(scores), days=days)


@method(
    "updatePushToken", p.PushTokenArgs, p.SeqResult, blocking=False, summary="Register the FCM/APNs token."
)
def _m_token(bridge: Bridge, args: p.PushTokenArgs) -> p.SeqResult:
    with bridge.client() as c:
        return p.SeqResult(seq=c.register_push_token(args.token))


@method("handlePush", p.PushArgs, p.PushResult, blocking=True, summary="A push arrived: sync if it is ours.")
def _m_push(bridge: Bridge, args: p.PushArgs) -> p.PushResult:
    # Both of the cloud's messages ask for a sync: a data-only "sync" ping, and a "notice" whose
    # notification the platform shows; its content still arrives only through the change log.
    if args.data.get("type") not in ("sync", "notice"):
        return p.PushResult(handled=False, sync=None)
    with bridge.client() as c:
        return p.PushResult(handled=True, sync=bridge._synced(c, force=True))


@method(
    "nextSyncDelay", p.NoArgs, p.NextSyncResult, blocking=False, summary="When the host should sync next."
)
def _m_next(bridge: Bridge, args: p.NoArgs) -> p.NextSyncResult:
    with bridge.client() as c:
        s = c.status()
        now = c.settings.clock_ms()
    if not s.enrolled:
        return p.NextSyncResult(delay_ms=PERIODIC_SYNC_MS, reason="not_enrolled")
    if s.next_attempt_at is not None and s.next_attempt_at > now:
        return p.NextSyncResult(delay_ms=s.next_attempt_at - now, reason="backoff")
    if s.pending:
        return p.NextSyncResult(delay_ms=0, reason="pending")
    if s.next_sync_hint_at is not None:
        return p.NextSyncResult(delay_ms=max(0, s.next_sync_hint_at - now), reason="server_hint")
    return p.NextSyncResult(delay_ms=PERIODIC_SYNC_MS, reason="periodic")


@method(
    "eraseLocalData",
    p.EraseArgs,
    p.EraseResult,
    blocking=True,
    summary="Erase the device's data; refuses while an accept is undelivered.",
)
def _m_erase(bridge: Bridge, args: p.EraseArgs) -> p.EraseResult:
    with bridge.client() as c:
        accepts = _pending_accepts(c)
        if accepts and c.status().enrolled:
            # An accepted offer is the user's money decision: deliver it before erasing if at all possible.
            try:
                bridge._synced(c, force=True)
            except EdgeError as exc:
                logger.info("erase: the sync before erasing failed: %s", exc)
            accepts = _pending_accepts(c)
        if accepts and not args.force:
            raise BridgeError(
                BridgeCode.PENDING_MONEY_ACTIONS,
                f"{len(accepts)} accepted offer(s) have not reached the cloud; erase with force to lose them",
                {"offerIds": accepts},
            )
        c.erase_local_data()
        return p.EraseResult(erased=True, lost_offer_accepts=accepts)


# ``ConsentScope`` values a host may name (documented with the payloads).
CONSENT_SCOPES: Final = tuple(s.value for s in ConsentScope)
