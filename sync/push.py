"""The exactly-once push rule, as a pure function.

Given the highest seq the server has processed for a device and the seqs of a pushed
batch in the order sent, decide per mutation: skip it as a duplicate, process it, or stop
at a gap. Every processed mutation advances ``last_seq``, whether the server then applies
or rejects it, so one bad mutation never blocks the outbox behind it.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

import msgspec


class Action(StrEnum):
    PROCESS = "process"
    DUPLICATE = "duplicate"


class PushStep(msgspec.Struct, frozen=True):
    index: int
    """Position of the mutation in the pushed list."""
    seq: int
    action: Action


class PushPlan(msgspec.Struct, frozen=True):
    steps: tuple[PushStep, ...]
    """One step per mutation before the gap (if any), in push order."""
    last_seq: int
    """``last_seq`` after every PROCESS step has run."""
    expected_seq: int | None
    """Set when the batch stopped at a gap: the seq the server needs next."""


def plan_push(last_seq: int, seqs: Sequence[int]) -> PushPlan:
    """Apply the rule: ``seq <= last`` is a duplicate, ``last + 1`` is processed, more is a gap.

    ``last`` moves as mutations are processed, so a batch may hold duplicates, new
    mutations and a gap in any order; nothing after a gap is looked at.
    """
    if last_seq < 0:
        raise ValueError("last_seq must be >= 0")
    steps: list[PushStep] = []
    current = last_seq
    for index, seq in enumerate(seqs):
        if seq <= current:
            steps.append(PushStep(index, seq, Action.DUPLICATE))
        elif seq == current + 1:
            steps.append(PushStep(index, seq, Action.PROCESS))
            current = seq
        else:
            return PushPlan(tuple(steps), current, current + 1)
    return PushPlan(tuple(steps), current, None)


def is_rolled_back(reply_last_seq: int, highest_allocated: int) -> bool:
    """A server that has seen more seqs than the device ever allocated means the store was restored."""
    return reply_last_seq > highest_allocated
