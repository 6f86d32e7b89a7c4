"""Runs one schedule against the live server and worker and checks the invariants afterwards.

Each device is an :class:`EdgeClient` on its own SQLite file, over a :class:`FaultyTransport`
wrapping the real HTTP transport. The harness records what every device created (each
aggregate, each acknowledged notice, each answer to an offer, each push token) and every
``last_seq`` it saw. At the end it syncs every device cleanly; in a schedule with offers it then
waits for the schedule's outbox rows to leave ``pending`` (the worker applies and pushes) and
syncs again. It compares the server's view of each user, field by field, with each device's
mirror (aggregates, notices, consent, offers, profile), and checks the money invariants on what
the server's store holds (read through the store interface, on either engine): every accepted
offer applied exactly once, every applied offer notified at least once, the profile equal to the
sum of its audit events. :mod:`tests.chaos.money` states
them exactly, including when a push may be missing (no consent at the apply, consent revoked
before the send, a token FCM answered ``UNREGISTERED``, a token registered after the apply).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from edge_sdk.client import EdgeClient
from edge_sdk.crashpoints import SimulatedCrash, set_crash_hook
from edge_sdk.settings import EdgeSettings, wall_clock_ms
from edge_sdk.sync_client.http import HttpTransport
from sync.messages import ConsentScope, FieldMechanism, Levels, Mechanism, SubmitAggregate
from tests.chaos import money
from tests.chaos.faults import ChaosEnv, DeviceClock, FaultContext, FaultyTransport
from tests.chaos.schedule import AdminNotice, AdminOffer, AdminWithdraw, Schedule, SyncStep, Write
from tests.support.live_server import day_of

FINAL_ROUNDS = 6
"""Most clean sync rounds over all devices before the final state must have converged."""
DRAIN_TIMEOUT_S = 30.0
"""Longest wait for the schedule's outbox rows to leave ``pending`` (normally well under 1 s)."""
POLL_S = 0.03
OPENING_LIMIT_CENTS = 100_000
"""Limit of every credit profile at setup; each offer raises it further."""
OFFER_TTL_MS = 14 * 86_400_000
OFFER_FIELDS = (
    "status",
    "current_limit_cents",
    "new_limit_cents",
    "rate_bps",
    "term_months",
    "expires_at",
    "reason_codes",
    "updated_at",
)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(slots=True)
class ChaosDevice:
    index: int
    user_id: str
    path: Path
    settings: EdgeSettings
    clock: DeviceClock
    transport: FaultyTransport
    client: EdgeClient
    device_id: str = ""
    days: int = 0
    aggregates: dict[str, SubmitAggregate] = field(default_factory=dict)
    """Every aggregate this device created, by day."""
    acked: set[str] = field(default_factory=set)
    crashes: int = 0
    answers: dict[int, tuple[str, str]] = field(default_factory=dict)
    """Seq of every answer to an offer: (offer id, ``accept`` or ``decline``)."""
    tokens: list[str] = field(default_factory=list)
    """Push tokens registered, oldest first (shared with the device's fault context)."""
    token_seqs: dict[int, str] = field(default_factory=dict)
    token_acked_at: dict[str, int] = field(default_factory=dict)
    """When the harness first saw each token's ``RegisterPushToken`` acknowledged."""

    def reopen(self) -> None:
        """Open the store file with a new client, as the app does after its process died."""
        self.client.close()
        self.client = EdgeClient(self.settings, transport=self.transport)
        self.crashes += 1


class ChaosRun:
    """One schedule on one server: setup, steps, final sync, invariants."""

    def __init__(self, schedule: Schedule, env: ChaosEnv, folder: Path, access_ttl_s: int) -> None:
        self.schedule = schedule
        self.env = env
        self.server = env.server
        self.folder = folder
        self.refresh_jump_ms = (access_ttl_s + 120) * 1000
        self.trace: list[str] = []
        self.violations: list[str] = []
        self.user_ids: list[str] = []
        self.devices: list[ChaosDevice] = []
        self.server_last_seq: dict[str, int] = {}
        self.device_last_seq: dict[int, int] = {}
        self._inner: list[HttpTransport] = []
        self.outbox_since = 0
        self.offer_ids: dict[str, int] = {}
        """Every offer the schedule made, with its new limit."""
        self.top_limit: dict[int, int] = {}
        """Highest limit offered to each credit user so far: the next offer must be above it."""

    # --- setup -------------------------------------------------------------------

    def setup(self) -> None:
        self.outbox_since = self.env.outbox_seen = money.outbox_high_water(self.server, self.env.outbox_seen)
        self.user_ids = [
            self.server.create_user(f"chaos-{self.schedule.seed}-{u}") for u in range(self.schedule.users)
        ]
        for user in self.schedule.credit_users:
            self.top_limit[user] = OPENING_LIMIT_CENTS + 10_000 * user
            profile = {
                "currency": "EUR",
                "limit_cents": self.top_limit[user],
                "used_cents": 25_000,
                "rate_bps": 1_990,
            }
            response = self.server.admin.post(f"/v1/admin/users/{self.user_ids[user]}/profile", json=profile)
            assert response.status_code == 200, response.text
        for index, user in enumerate(self.schedule.device_users):
            clock = DeviceClock(wall_clock_ms)
            inner = HttpTransport(self.server.base_url, timeout_s=10.0)
            self._inner.append(inner)
            transport = FaultyTransport(inner)
            settings = EdgeSettings(
                base_url=self.server.base_url,
                db_path=self.folder / f"device-{index}.db",
                clock_ms=clock,
                random=random.Random(self.schedule.seed * 100 + index).random,
                timeout_s=10.0,
            )
            client = EdgeClient(settings, transport=transport)
            device = ChaosDevice(
                index, self.user_ids[user], Path(settings.db_path), settings, clock, transport, client
            )
            device.device_id = client.enroll(self.server.enrollment_code(device.user_id))
            # The app asks for sharing consent before it queues aggregates (the SDK refuses otherwise).
            client.set_consent(ConsentScope.SHARE_AGGREGATES, True)
            transport.ctx = FaultContext(
                self.server, clock, transport, self.refresh_jump_ms, self.env, device.tokens
            )
            self.devices.append(device)
            if index in self.schedule.push_devices:
                client.set_consent(ConsentScope.PUSH, True)
                self._register_token(device)

    def close(self) -> None:
        set_crash_hook(None)
        for device in self.devices:
            device.client.close()
        for inner in self._inner:
            inner.close()

    # --- steps -------------------------------------------------------------------

    def run_steps(self) -> None:
        for number, step in enumerate(self.schedule.steps):
            if isinstance(step, Write):
                note = self._write(step)
            elif isinstance(step, AdminNotice):
                created = self.server.add_notice(
                    self.user_ids[step.user], title=f"n{number}", body=f"b{number}"
                )
                note = f"version {created}"
            elif isinstance(step, AdminOffer):
                note = self._offer(step)
            elif isinstance(step, AdminWithdraw):
                note = self._withdraw(step)
            else:
                note = self._sync(step)
            if self.env.kills:
                note += f" ({'; '.join(self.env.kills)})"
                self.env.kills.clear()
            self.trace.append(f"{number:2d}. {step.describe()} -> {note}")
            self.observe_last_seq(f"after step {number}")

    def _write(self, step: Write) -> str:
        device = self.devices[step.device]
        client = device.client
        if step.kind == "aggregate":
            day = day_of(device.days)
            device.days += 1
            field_mechanism = FieldMechanism(k=4, epsilon=1.0 + device.index)
            seq = client.submit_aggregate(
                day=day,
                tz_offset_min=60 * device.index,
                window_bucket=device.days % 4,
                levels=Levels(stress=device.days % 4, valence=device.index % 4, arousal=step.device % 4),
                mechanism=Mechanism(stress=field_mechanism, valence=field_mechanism, arousal=field_mechanism),
                model_version=f"m{step.device}",
            )
            stored = [m for m in client.store.pending() if m.seq == seq]
            assert len(stored) == 1 and isinstance(stored[0], SubmitAggregate)
            device.aggregates[day] = stored[0]
            return f"seq {seq} day {day}"
        if step.kind == "consent":
            return f"seq {client.set_consent(step.scope, step.granted)}"
        if step.kind == "push_token":
            return self._register_token(device)
        if step.kind in ("accept", "decline"):
            return self._answer(device, step)
        # Acknowledge only a notice this device has seen (as the app would).
        seen = [n for n in client.notices() if not n.acked]
        if not seen:
            return "no unacked notice seen"
        notice = seen[int(step.pick * len(seen))]
        device.acked.add(notice.notice_id)
        return f"seq {client.ack_notice(notice.notice_id)} ack {notice.notice_id}"

    def _register_token(self, device: ChaosDevice) -> str:
        # Unique in the session: the fake FCM's planned answers are per token.
        token = f"tok-s{self.schedule.seed}-d{device.index}-{len(device.tokens)}"
        seq = device.client.register_push_token(token)
        device.tokens.append(token)
        device.token_seqs[seq] = token
        return f"seq {seq} token {token}"

    def _answer(self, device: ChaosDevice, step: Write) -> str:
        """Answer an offer the device shows as open (as the app would), offline until its next sync."""
        open_offers = [o for o in device.client.offers() if o.status == "offered"]
        if not open_offers:
            return "no open offer seen"
        offer_id = open_offers[int(step.pick * len(open_offers))].offer_id
        if step.kind == "accept":
            seq = device.client.accept_offer(offer_id)
        else:
            seq = device.client.decline_offer(offer_id, reason="not now")
        device.answers[seq] = (offer_id, step.kind)
        return f"seq {seq} {step.kind} {offer_id}"

    def _offer(self, step: AdminOffer) -> str:
        # Above every limit offered so far: an earlier offer applied meanwhile cannot make this
        # one "not above the profile's limit".
        new_limit = self.top_limit[step.user] + 5_000 * (1 + int(step.raise_pick * 20))
        self.top_limit[step.user] = new_limit
        terms = {
            "new_limit_cents": new_limit,
            "rate_bps": 1_990 - 10 * int(step.raise_pick * 50),
            "term_months": 12,
            "expires_at": now_ms() + OFFER_TTL_MS,
            "reason_codes": ["CHAOS"],
            "policy_version": "chaos-1",
        }
        response = self.server.admin.post(f"/v1/admin/users/{self.user_ids[step.user]}/offers", json=terms)
        assert response.status_code == 201, response.text
        offer_id: str = response.json()["offer"]["offer_id"]
        self.offer_ids[offer_id] = new_limit
        return f"offer {offer_id} limit {new_limit}"

    def _withdraw(self, step: AdminWithdraw) -> str:
        response = self.server.admin.get(f"/v1/admin/users/{self.user_ids[step.user]}/offers")
        assert response.status_code == 200, response.text
        open_offers = [o["offer"]["offer_id"] for o in response.json() if o["offer"]["status"] == "offered"]
        if not open_offers:
            return "no open offer"
        offer_id = open_offers[int(step.pick * len(open_offers))]
        response = self.server.admin.post(f"/v1/admin/offers/{offer_id}/withdraw", json={})
        assert response.status_code == 200, response.text
        return f"withdrew {offer_id}"

    def _sync(self, step: SyncStep) -> str:
        device = self.devices[step.device]
        transport = device.transport
        assert transport.ctx is not None
        fault = step.fault
        transport.fault = fault
        note = ""
        try:
            if fault is not None:
                fault.before_sync(transport.ctx)
            outcome = device.client.sync(force=step.force)
            note = f"{outcome.status} exchanges={outcome.exchanges} pushed={outcome.pushed}"
            if outcome.error is not None:
                note += f" error={outcome.error}"
        except SimulatedCrash as crash:
            note = f"crashed at {crash.point}; reopened"
            device.reopen()
        finally:
            transport.fault = None
            if fault is not None:
                fault.after_sync(transport.ctx)
        return note

    # --- observations ------------------------------------------------------------

    def observe_last_seq(self, when: str) -> None:
        """Record ``last_seq`` as the server and each device see it; neither may ever decrease."""
        for user_id in self.user_ids:
            page = self.server.admin.get(
                "/v1/admin/devices", params={"user_id": user_id, "limit": 500}
            ).json()
            for row in page["items"]:
                before = self.server_last_seq.get(row["device_id"], 0)
                if row["last_seq"] < before:
                    self.violations.append(
                        f"server last_seq of {row['device_id']} went back "
                        f"from {before} to {row['last_seq']} {when}"
                    )
                self.server_last_seq[row["device_id"]] = max(before, row["last_seq"])
        for device in self.devices:
            acked = device.client.status().last_seq_acked
            before = self.device_last_seq.get(device.index, 0)
            if acked < before:
                self.violations.append(
                    f"d{device.index} last_seq_acked went back from {before} to {acked} {when}"
                )
            self.device_last_seq[device.index] = max(before, acked)
            for seq, token in device.token_seqs.items():
                if seq <= acked:
                    device.token_acked_at.setdefault(token, now_ms())

    # --- final sync and invariants -----------------------------------------------

    def final_sync(self) -> None:
        """Clean syncs of every device until nothing is pending and a full round pulled nothing."""
        for round_number in range(FINAL_ROUNDS):
            quiet = True
            for device in self.devices:
                outcome = device.client.sync(force=True)
                self.trace.append(
                    f"final {round_number} d{device.index}: {outcome.status} pushed={outcome.pushed} "
                    f"pulled={outcome.pulled}" + (f" error={outcome.error}" if outcome.error else "")
                )
                if not outcome.ok or outcome.pushed or outcome.pulled or device.client.status().pending:
                    quiet = False
            if quiet and round_number > 0:
                break
        self.observe_last_seq("after the final sync")

    def settle(self) -> None:
        """The final sync; with offers, wait until the worker finished the schedule's outbox rows
        (applies and pushes), then sync again so that every mirror shows the outcome."""
        self.final_sync()
        if self.schedule.offers:
            self.drain()
            self.final_sync()

    def drain(self) -> None:
        """Wait (up to :data:`DRAIN_TIMEOUT_S`) until none of the schedule's outbox rows is pending."""
        users, offers = set(self.user_ids), set(self.offer_ids)
        started = time.monotonic()
        while True:
            self._check_worker()
            rows = money.pending_rows(self.server, self.outbox_since, users, offers)
            if not rows:
                break
            if time.monotonic() - started > DRAIN_TIMEOUT_S:
                stuck = [(r.outbox_id, r.kind, r.attempts, r.last_error) for r in rows]
                self.violations.append(f"outbox rows still pending after {DRAIN_TIMEOUT_S} s: {stuck}")
                break
            time.sleep(POLL_S)
        self.trace.append(f"outbox drained in {time.monotonic() - started:.2f} s")

    def _check_worker(self) -> None:
        """The workers survive everything but their own kill fault (API restarts included)."""
        dead = self.env.dead_workers()
        for number, code in dead:
            self.violations.append(f"worker {number} exited ({code}) although nothing stopped it")
        if dead:
            self.env.ensure_workers()

    def check(self) -> None:
        self._check_worker()
        for user_index, user_id in enumerate(self.user_ids):
            view = self.server.user_view(user_id)
            for device in self.devices:
                if device.user_id == user_id:
                    self._check_device(device, view)
            self._check_money(user_index, user_id, view)
            # An acknowledgement on any device acknowledges the notice for the user.
            acked_here = set().union(*(d.acked for d in self.devices if d.user_id == user_id))
            server_acked = {n["notice_id"] for n in view["notices"] if n["acked"]}
            if server_acked != acked_here:
                self.violations.append(
                    f"u{user_index}: server acked {sorted(server_acked)} != device acks {sorted(acked_here)}"
                )
            known = {d.device_id for d in self.devices if d.user_id == user_id}
            strays = [a for a in view["aggregates"] if a["device_id"] not in known]
            if strays:
                self.violations.append(f"u{user_index}: aggregates from unknown devices: {strays}")

    def _fail(self, device: ChaosDevice, message: str) -> None:
        self.violations.append(f"d{device.index} ({device.device_id}): {message}")

    def _check_device(self, device: ChaosDevice, view: dict[str, Any]) -> None:
        client = device.client
        status = client.status()
        if status.pending:
            self._fail(device, f"outbox not empty after the final sync: {status.pending} pending")
        # A refused answer to an offer is judged with the audit trail (tests.chaos.money).
        refused = [r for r in client.rejections() if r.seq not in device.answers]
        if refused:
            self._fail(device, f"mutations rejected: {refused}")
        if status.last_seq_acked != status.highest_seq_allocated:
            self._fail(
                device, f"last_seq_acked {status.last_seq_acked} != allocated {status.highest_seq_allocated}"
            )
        rows = [d for d in view["devices"] if d["device_id"] == device.device_id]
        if len(rows) != 1:
            self._fail(device, f"listed {len(rows)} times in the server view")
        elif rows[0]["last_seq"] != status.highest_seq_allocated:
            self._fail(
                device, f"server last_seq {rows[0]['last_seq']} != allocated {status.highest_seq_allocated}"
            )
        self._check_aggregates(device, view)
        self._check_mirror(device, view)

    def _check_aggregates(self, device: ChaosDevice, view: dict[str, Any]) -> None:
        stored: dict[str, list[dict[str, Any]]] = {}
        for row in view["aggregates"]:
            if row["device_id"] == device.device_id:
                stored.setdefault(row["day"], []).append(row)
        for day, created in device.aggregates.items():
            copies = stored.pop(day, [])
            if len(copies) != 1:
                self._fail(device, f"aggregate of {day} stored {len(copies)} times")
                continue
            expected = {"seq": created.seq, **msgspec.to_builtins(created)}
            for name, value in copies[0].items():
                if name in expected and name != "type" and expected[name] != value:
                    self._fail(
                        device, f"aggregate {day} field {name}: server {value!r} != device {expected[name]!r}"
                    )
        if stored:
            self._fail(device, f"server holds aggregates the device never created: {sorted(stored)}")

    def _check_mirror(self, device: ChaosDevice, view: dict[str, Any]) -> None:
        client = device.client
        cursor = client.store.state().cursor
        # The version the cursor stands for, in whatever epoch it was issued (a restore starts one).
        version = None if cursor is None else int(cursor.rsplit(".", 1)[1])
        if version != view["version"] and not (cursor is None and view["version"] == 0):
            self._fail(device, f"cursor {cursor!r} != server version {view['version']}")
        mirrored = client.store.mirror_notices()
        local_notices = {n.notice_id: n for n in mirrored}
        server_notices = {n["notice_id"]: n for n in view["notices"]}
        if local_notices.keys() != server_notices.keys():
            self._fail(device, f"notices mirrored {sorted(local_notices)} != server {sorted(server_notices)}")
        for notice_id in local_notices.keys() & server_notices.keys():
            local, remote = local_notices[notice_id], server_notices[notice_id]
            for name in ("kind", "title", "body", "created_at", "version", "acked"):
                if getattr(local, name) != remote[name]:
                    self._fail(
                        device,
                        f"notice {notice_id} field {name}: {getattr(local, name)!r} != {remote[name]!r}",
                    )
        shown = {n.notice_id: n.acked for n in client.notices()}
        if shown != {n.notice_id: n.acked for n in mirrored}:
            self._fail(device, f"notices() {shown} differ from the mirror with nothing pending")
        if client.store.mirror_consent() != view["consent"]:
            self._fail(device, f"consent mirror {client.store.mirror_consent()} != server {view['consent']}")
        # Every device granted sharing at setup: the server lists every scope with its value.
        if set(view["consent"]) != {scope.value for scope in ConsentScope}:
            self._fail(device, f"server consent {view['consent']} does not list every scope")
        consent = client.consent()
        if consent.scopes != view["consent"] or consent.pending:
            self._fail(device, f"consent() {consent} != server {view['consent']}")
        shown_offers = {o.offer_id: o for o in client.offers()}
        server_offers = {o["offer_id"]: o for o in view["offers"]}
        if shown_offers.keys() != server_offers.keys():
            self._fail(device, f"offers shown {sorted(shown_offers)} != server {sorted(server_offers)}")
        for offer_id in shown_offers.keys() & server_offers.keys():
            offer, held = shown_offers[offer_id], server_offers[offer_id]
            for name in OFFER_FIELDS:
                if getattr(offer, name) != held[name]:
                    self._fail(
                        device, f"offer {offer_id} field {name}: {getattr(offer, name)!r} != {held[name]!r}"
                    )
            if offer.pending:
                self._fail(device, f"offer {offer_id} still shows a pending answer")
        profile = client.profile()
        shown_profile = None if profile is None else msgspec.to_builtins(profile)
        if shown_profile != view["profile"]:
            self._fail(device, f"profile shown {shown_profile} != server {view['profile']}")

    def _check_money(self, user_index: int, user_id: str, view: dict[str, Any]) -> None:
        devices = [d for d in self.devices if d.user_id == user_id]
        tokens = {t for d in devices for t in d.tokens}
        fcm_sent: dict[str, set[str]] = {}
        for message in self.env.fcm.messages():
            notice_id = message.get("data", {}).get("notice_id")
            if message.get("token") in tokens and notice_id is not None:
                fcm_sent.setdefault(message["token"], set()).add(notice_id)
        facts = [
            money.DeviceFacts(
                device_id=d.device_id,
                answers=d.answers,
                refused={r.seq: r.code for r in d.client.rejections()},
                tokens=d.tokens,
                token_acked_at=d.token_acked_at,
            )
            for d in devices
        ]
        records = money.read_user(self.server, user_id, self.outbox_since)
        found = money.check_user(
            records, view, facts, unregistered=self.env.unregistered & tokens, fcm_sent=fcm_sent
        )
        self.violations += [f"u{user_index}: {message}" for message in found]
