"""The exactly-once push rule, as pure functions.

Given the highest seq the server has processed for a device and the seqs of a pushed
batch in the order sent, decide per mutation: skip it as a duplicate, process it, or stop
at a gap. Every processed mutation advances ``last_seq``, whether the server then applies
or rejects it, so one bad mutation never blocks the outbox behind it.

A seq pushed again after it was processed is judged by :func:`judge_resend`: the same content
gets the result it got the first time, marked as a replay (a refusal lost with its reply is still
heard, as idempotency keys work in payment APIs); other content means the device's store was
rolled back.
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


class Resend(StrEnum):
    """What a seq pushed again after it was processed gets."""

    REPLAY = "replay"
    """The same content: the result it got when it was processed, marked as a replay."""
    DUPLICATE = "duplicate"
    """No result to replay (processed before results were kept, or a ``Withdrawn`` that came too
    late to take back what was processed): ``duplicate``."""
    CONFLICT = "conflict"
    """Other content at a processed seq: the device's store was rolled back (``409 seq_conflict``)."""


def judge_resend(
    *, stored_digest: bytes | None, has_result: bool, pushed_digest: bytes, withdrawn: bool
) -> Resend:
    """Judge a mutation pushed at a seq the server already processed.

    ``stored_digest`` is the digest kept when the seq was processed (``None`` before digests were
    kept); ``has_result`` whether its result was kept too; ``withdrawn`` whether the pushed mutation
    is a ``Withdrawn`` tombstone, which replaces a pending mutation under the same seq and carries no
    data, so a late one is never a conflict.
    """
    if stored_digest is None:
        return Resend.DUPLICATE
    if stored_digest != pushed_digest:
        return Resend.DUPLICATE if withdrawn else Resend.CONFLICT
    return Resend.REPLAY if has_result else Resend.DUPLICATE
