"""Seeded random schedules: who the users and devices are, and the steps they take.

A schedule is drawn in full from ``random.Random(seed)`` before it runs, so a seed always
means the same steps. Choices that depend on what a device has seen at run time (which notice
to acknowledge) are drawn up front as a number in ``[0, 1)`` and resolved when the step runs.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from sync.messages import ConsentScope
from tests.chaos.faults import FAULTS, Fault

MIN_STEPS = 4
MAX_STEPS = 12
RESTART_EVERY = 10
"""Every tenth seed restarts the server at least once (others may draw a restart too)."""


@dataclass(frozen=True, slots=True)
class Write:
    device: int
    kind: str
    """``aggregate``, ``consent``, ``push_token`` or ``ack``."""
    scope: ConsentScope = ConsentScope.INFERENCE
    granted: bool = True
    pick: float = 0.0

    def describe(self) -> str:
        detail = {"consent": f" {self.scope}={self.granted}", "ack": f" pick={self.pick:.2f}"}
        return f"d{self.device} write {self.kind}{detail.get(self.kind, '')}"


@dataclass(frozen=True, slots=True)
class AdminNotice:
    user: int

    def describe(self) -> str:
        return f"u{self.user} admin notice"


@dataclass(slots=True)
class SyncStep:
    device: int
    force: bool
    fault: Fault | None = None

    def describe(self) -> str:
        fault = f" fault={self.fault.describe()}" if self.fault else ""
        return f"d{self.device} sync force={self.force}{fault}"


Step = Write | AdminNotice | SyncStep


@dataclass(slots=True)
class Schedule:
    seed: int
    device_users: list[int]
    """User index of every device; device ``i`` belongs to user ``device_users[i]``."""
    steps: list[Step] = field(default_factory=list)

    @property
    def users(self) -> int:
        return max(self.device_users) + 1

    @property
    def restarts_server(self) -> bool:
        return any(isinstance(s, SyncStep) and s.fault and s.fault.restarts_server for s in self.steps)

    def describe(self) -> str:
        head = f"seed {self.seed}: devices->users {self.device_users}"
        return "\n".join([head, *(f"  {i:2d}. {s.describe()}" for i, s in enumerate(self.steps))])


_RESTART_FAULTS = [name for name, cls in FAULTS.items() if cls.restarts_server]


def _fault(rng: random.Random) -> Fault:
    names = sorted(FAULTS)
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


def make_schedule(seed: int) -> Schedule:
    rng = random.Random(seed)
    device_users: list[int] = []
    for user in range(rng.choice((1, 1, 2))):
        device_users += [user] * rng.choice((1, 2, 2, 3))
    schedule = Schedule(seed, device_users)
    devices = len(device_users)
    for _ in range(rng.randint(MIN_STEPS, MAX_STEPS)):
        kind = rng.choices(("write", "notice", "sync", "faulty"), (5, 1, 2, 3))[0]
        device = rng.randrange(devices)
        if kind == "write":
            schedule.steps += [_write(rng, device) for _ in range(rng.randint(1, 3))]
        elif kind == "notice":
            schedule.steps.append(AdminNotice(rng.randrange(schedule.users)))
        else:
            fault = _fault(rng) if kind == "faulty" else None
            # A fault armed on a sync that only reports its backoff would never fire: force most.
            force = rng.random() < (0.8 if fault else 0.5)
            schedule.steps.append(SyncStep(device, force=force, fault=fault))
    if seed % RESTART_EVERY == 0 and not schedule.restarts_server:
        fault = FAULTS[rng.choice(_RESTART_FAULTS)](rng)
        position = rng.randint(0, len(schedule.steps))
        schedule.steps.insert(position, SyncStep(rng.randrange(devices), force=True, fault=fault))
    return schedule
