"""Seeded random schedules: who the users and devices are, and the steps they take.

A schedule is drawn in full from ``random.Random(seed)`` before it runs, so a seed always
means the same steps. Choices that depend on what a device has seen at run time (which notice
to acknowledge, which offer to answer or withdraw) are drawn up front as a number in ``[0, 1)``
and resolved when the step runs.

About half the schedules have credit: some users get a profile and an offer at the start, and
the steps add admin offers and withdrawals, and answers (accept or decline on a device, offline
until its next sync, which often carries a fault: a worker kill, Redis loss or an FCM error
among them). Some devices of those users grant push consent and register a token at setup.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from sync.messages import ConsentScope
from tests.chaos.faults import FAULTS, Fault, ProcessKill

MIN_STEPS = 4
MAX_STEPS = 12
OFFER_SHARE = 0.5
"""Share of the schedules with credit profiles and offers."""
RESTART_EVERY = 10
"""Every tenth seed restarts the server at least once (others may draw a restart too)."""


@dataclass(frozen=True, slots=True)
class Write:
    device: int
    kind: str
    """``aggregate``, ``consent``, ``push_token``, ``ack``, ``accept`` or ``decline``."""
    scope: ConsentScope = ConsentScope.INFERENCE
    granted: bool = True
    pick: float = 0.0

    def describe(self) -> str:
        pick = f" pick={self.pick:.2f}"
        detail = {"consent": f" {self.scope}={self.granted}", "ack": pick, "accept": pick, "decline": pick}
        return f"d{self.device} write {self.kind}{detail.get(self.kind, '')}"


@dataclass(frozen=True, slots=True)
class AdminNotice:
    user: int

    def describe(self) -> str:
        return f"u{self.user} admin notice"


@dataclass(frozen=True, slots=True)
class AdminOffer:
    """The admin offers the user a higher limit (``raise_pick`` sizes the raise)."""

    user: int
    raise_pick: float

    def describe(self) -> str:
        return f"u{self.user} admin offer raise={self.raise_pick:.2f}"


@dataclass(frozen=True, slots=True)
class AdminWithdraw:
    """The admin withdraws one of the user's open offers (``pick`` chooses which), if any."""

    user: int
    pick: float

    def describe(self) -> str:
        return f"u{self.user} admin withdraw pick={self.pick:.2f}"


@dataclass(slots=True)
class SyncStep:
    device: int
    force: bool
    fault: Fault | None = None

    def describe(self) -> str:
        fault = f" fault={self.fault.describe()}" if self.fault else ""
        return f"d{self.device} sync force={self.force}{fault}"


Step = Write | AdminNotice | AdminOffer | AdminWithdraw | SyncStep


@dataclass(slots=True)
class Schedule:
    seed: int
    device_users: list[int]
    """User index of every device; device ``i`` belongs to user ``device_users[i]``."""
    steps: list[Step] = field(default_factory=list)
    credit_users: list[int] = field(default_factory=list)
    """Users with a credit profile (set at setup); empty in a schedule without offers."""
    push_devices: list[int] = field(default_factory=list)
    """Devices that grant push consent and register a push token at setup."""

    @property
    def users(self) -> int:
        return max(self.device_users) + 1

    @property
    def offers(self) -> bool:
        return bool(self.credit_users)

    @property
    def restarts_server(self) -> bool:
        return any(isinstance(s, SyncStep) and s.fault and s.fault.restarts_server for s in self.steps)

    def describe(self) -> str:
        head = f"seed {self.seed}: devices->users {self.device_users}"
        if self.offers:
            head += f", credit users {self.credit_users}, push devices {self.push_devices}"
        return "\n".join([head, *(f"  {i:2d}. {s.describe()}" for i, s in enumerate(self.steps))])


_RESTART_FAULTS = [name for name, cls in FAULTS.items() if cls.restarts_server]


def _fault(rng: random.Random, *, offers: bool, offer_faults_only: bool = False) -> Fault:
    names = [
        n
        for n in sorted(FAULTS)
        if (offers or not FAULTS[n].needs_offers) and (FAULTS[n].needs_offers or not offer_faults_only)
    ]
    weights = [FAULTS[n].weight for n in names]
    return FAULTS[rng.choices(names, weights)[0]](rng)


def _write(rng: random.Random, device: int) -> Write:
    kind = rng.choices(("aggregate", "consent", "push_token", "ack"), (4, 2, 1, 2))[0]
    return Write(
        device=device,
        kind=kind,
        # Revoking share_aggregates deletes the user's aggregates in the cloud by design, which
        # the exactly-once invariant cannot express; the revoke paths have their own tests.
        scope=rng.choice([s for s in ConsentScope if s is not ConsentScope.SHARE_AGGREGATES]),
        granted=rng.random() < 0.5,
        pick=rng.random(),
    )


def _answer(rng: random.Random, schedule: Schedule) -> list[Step]:
    """A device answers an offer: often a sync first (to see the latest offers), the answer
    (offline, queued), then the sync that carries it, often with a fault armed, half the time
    one of those that act on the worker, the queue or the push."""
    credit = set(schedule.credit_users)
    device = rng.choice([d for d, u in enumerate(schedule.device_users) if u in credit])
    steps: list[Step] = []
    if rng.random() < 0.7:
        steps.append(SyncStep(device, force=True))
    steps.append(Write(device, "accept" if rng.random() < 0.8 else "decline", pick=rng.random()))
    fault = None
    if rng.random() < 0.7:
        fault = _fault(rng, offers=True, offer_faults_only=rng.random() < 0.5)
    steps.append(SyncStep(device, force=True, fault=fault))
    return steps


def _credit(rng: random.Random, schedule: Schedule) -> None:
    """Choose the users with a profile (user 0 at least) and the devices with push, and open
    the schedule with one offer per such user."""
    schedule.credit_users = [u for u in range(schedule.users) if u == 0 or rng.random() < 0.7]
    schedule.push_devices = [
        d for d, u in enumerate(schedule.device_users) if u in schedule.credit_users and rng.random() < 0.9
    ]
    schedule.steps += [AdminOffer(u, rng.random()) for u in schedule.credit_users]


def make_schedule(seed: int) -> Schedule:
    rng = random.Random(seed)
    device_users: list[int] = []
    for user in range(rng.choice((1, 1, 2))):
        device_users += [user] * rng.choice((1, 2, 2, 3))
    schedule = Schedule(seed, device_users)
    devices = len(device_users)
    if rng.random() < OFFER_SHARE:
        _credit(rng, schedule)
    kinds = ("write", "notice", "sync", "faulty", "offer", "answer", "withdraw")
    weights = (5, 1, 2, 3, *((1, 3, 0.5) if schedule.offers else (0, 0, 0)))
    for _ in range(rng.randint(MIN_STEPS, MAX_STEPS)):
        kind = rng.choices(kinds, weights)[0]
        device = rng.randrange(devices)
        if kind == "write":
            schedule.steps += [_write(rng, device) for _ in range(rng.randint(1, 3))]
        elif kind == "notice":
            schedule.steps.append(AdminNotice(rng.randrange(schedule.users)))
        elif kind == "offer":
            schedule.steps.append(AdminOffer(rng.choice(schedule.credit_users), rng.random()))
        elif kind == "withdraw":
            schedule.steps.append(AdminWithdraw(rng.choice(schedule.credit_users), rng.random()))
        elif kind == "answer":
            schedule.steps += _answer(rng, schedule)
        else:
            fault = _fault(rng, offers=schedule.offers) if kind == "faulty" else None
            # A fault armed on a sync that only reports its backoff would never fire: force most.
            force = rng.random() < (0.8 if fault else 0.5)
            schedule.steps.append(SyncStep(device, force=force, fault=fault))
    if seed % RESTART_EVERY == 0 and not schedule.restarts_server:
        fault = FAULTS[rng.choice(_RESTART_FAULTS)](rng)
        position = rng.randint(0, len(schedule.steps))
        schedule.steps.insert(position, SyncStep(rng.randrange(devices), force=True, fault=fault))
    # Which process each kill hits where there are several: a stream of its own, so the draws
    # above (and every schedule that ran before processes were counted) stay as they were.
    picks = random.Random(f"process-kills:{seed}")
    for step in schedule.steps:
        if isinstance(step, SyncStep) and isinstance(step.fault, ProcessKill):
            step.fault.pick = picks.random()
    return schedule
