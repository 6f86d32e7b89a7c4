"""Runs one schedule against the live server and checks the invariants afterwards.

Each device is an :class:`EdgeClient` on its own SQLite file, over a :class:`FaultyTransport`
wrapping the real HTTP transport. The harness records what every device created (each
aggregate, each acknowledged notice) and every ``last_seq`` it saw, then after a clean final
sync compares the server's view of each user, field by field, with each device's mirror.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from edge_sdk.client import EdgeClient
from edge_sdk.crashpoints import SimulatedCrash, set_crash_hook
from edge_sdk.settings import EdgeSettings, wall_clock_ms
from edge_sdk.sync_client.http import HttpTransport
from sync.messages import ConsentScope, FieldMechanism, Levels, Mechanism, SubmitAggregate
from sync.pull import decode_cursor
from tests.chaos.faults import DeviceClock, FaultContext, FaultyTransport
from tests.chaos.schedule import AdminNotice, Schedule, SyncStep, Write
from tests.support.live_server import LiveServer, day_of

FINAL_ROUNDS = 6
"""Most clean sync rounds over all devices before the final state must have converged."""


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

    def reopen(self) -> None:
        """Open the store file with a new client, as the app does after its process died."""
        self.client.close()
        self.client = EdgeClient(self.settings, transport=self.transport)
        self.crashes += 1


class ChaosRun:
    """One schedule on one server: setup, steps, final sync, invariants."""

    def __init__(self, schedule: Schedule, server: LiveServer, folder: Path, access_ttl_s: int) -> None:
        self.schedule = schedule
        self.server = server
        self.folder = folder
        self.refresh_jump_ms = (access_ttl_s + 120) * 1000
        self.trace: list[str] = []
        self.violations: list[str] = []
        self.user_ids: list[str] = []
        self.devices: list[ChaosDevice] = []
        self.server_last_seq: dict[str, int] = {}
        self.device_last_seq: dict[int, int] = {}
        self._inner: list[HttpTransport] = []

    # --- setup -------------------------------------------------------------------

    def setup(self) -> None:
        self.user_ids = [
            self.server.create_user(f"chaos-{self.schedule.seed}-{u}") for u in range(self.schedule.users)
        ]
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
            transport.ctx = FaultContext(self.server, clock, transport, self.refresh_jump_ms)
            self.devices.append(device)

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
            else:
                note = self._sync(step)
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
            return f"seq {client.register_push_token(f'tok-{device.index}-{device.days}-{step.pick:.3f}')}"
        # Acknowledge only a notice this device has seen (as the app would).
        seen = [n for n in client.notices() if not n.acked]
        if not seen:
            return "no unacked notice seen"
        notice = seen[int(step.pick * len(seen))]
        device.acked.add(notice.notice_id)
        return f"seq {client.ack_notice(notice.notice_id)} ack {notice.notice_id}"

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
            for row in self.server.admin.get("/v1/admin/devices", params={"user_id": user_id}).json():
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

    def check(self) -> None:
        for user_index, user_id in enumerate(self.user_ids):
            view = self.server.user_view(user_id)
            for device in self.devices:
                if device.user_id == user_id:
                    self._check_device(device, view)
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
        if client.rejections():
            self._fail(device, f"mutations rejected: {client.rejections()}")
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
        if decode_cursor(cursor) != view["version"]:
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
        consent = client.consent()
        expected_scopes = {scope: view["consent"].get(scope, False) for scope in consent.scopes}
        if consent.scopes != expected_scopes or consent.pending:
            self._fail(device, f"consent() {consent} != server {view['consent']}")
        if client.offers() or view["offers"]:
            self._fail(device, f"offers: device {client.offers()} server {view['offers']}")
        if client.profile() is not None or view["profile"] is not None:
            self._fail(device, f"profile: device {client.profile()} server {view['profile']}")
