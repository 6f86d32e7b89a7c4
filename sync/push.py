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


# --- the device's half: what to push next --------------------------------------------------------


class Next(StrEnum):
    """What a device does after the cloud answered one push."""

    RESEND = "resend"
    """The cloud reported a gap: push again from ``expected`` (tombstones for seqs it lost)."""
    CONTINUE = "continue"
    """Push the next batch (``expected`` set while tombstones for a wide gap go on)."""
    DONE = "done"
    """Nothing left to push or pull in this sync."""
    ASKED_AGAIN = "asked_again"
    """A fault: the cloud asks again for a seq already resent in this sync (it would loop)."""
    PROCESSED_NONE = "processed_none"
    """A fault: the cloud processed none of the pushed seqs and reported no gap."""


class NextPush(msgspec.Struct, frozen=True, kw_only=True):
    action: Next
    expected: int | None = None
    """The seq the next push starts from when it starts with tombstones (``None``: the outbox)."""


def next_push(
    *,
    pushed: Sequence[int],
    fillers: int,
    last_seq: int,
    expected_seq: int | None,
    has_more: bool,
    pending: bool,
    resent: Sequence[int] | frozenset[int],
) -> NextPush:
    """Decide the device's next push from the cloud's answer to the last one.

    ``pushed`` are the seqs that push carried, the first ``fillers`` of them ``Withdrawn``
    tombstones; ``last_seq``, ``expected_seq`` and ``has_more`` are the reply's; ``pending``
    whether the outbox still holds anything (looked at only when nothing is left to pull after a
    push, so a caller may skip reading it otherwise); ``resent`` the gap seqs already resent in this sync.
    A push that reached here made progress or reported a gap, so ``CONTINUE`` cannot spin.
    """
    if expected_seq is not None:
        if expected_seq in resent:
            return NextPush(action=Next.ASKED_AGAIN, expected=expected_seq)
        return NextPush(action=Next.RESEND, expected=expected_seq)
    if pushed and last_seq < pushed[0]:
        return NextPush(action=Next.PROCESSED_NONE)
    # Tombstones for a gap wider than one batch go on where this batch ended.
    expected = last_seq + 1 if fillers else None
    if has_more or (pushed and pending):
        return NextPush(action=Next.CONTINUE, expected=expected)
    return NextPush(action=Next.DONE)


def filler_seqs(expected: int, first_pending: int | None, highest_allocated: int, limit: int) -> range:
    """The seqs a push resends as ``Withdrawn`` tombstones after the cloud asked for ``expected``:
    every seq the device no longer holds (below its first pending one, or up to the highest it
    allocated when nothing is pending), at most ``limit`` of them."""
    stop = first_pending if first_pending is not None else highest_allocated + 1
    return range(expected, max(expected, min(stop, expected + limit)))


MUTATION_SINCE_PROTOCOL: dict[str, int] = {
    "SubmitAggregate": 1,
    "AcceptOffer": 1,
    "DeclineOffer": 1,
    "SetConsent": 1,
    "RegisterPushToken": 1,
    "AckNotice": 1,
    "Withdrawn": 1,
    "RequestReview": 2,
}
"""First protocol version that knows each mutation type; a request of an older protocol that pushes
a newer type gets ``invalid_mutation`` for it (spec §11)."""


def mutation_known_to(mutation_type: str, protocol: int) -> bool:
    since = MUTATION_SINCE_PROTOCOL.get(mutation_type)
    return since is not None and since <= protocol
