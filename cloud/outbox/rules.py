"""The relay's decision for one outbox row, as a pure function (table-tested).

A pending row the relay finds untouched for the relay timeout (and not backing off) gets its
next attempt, unless the attempt that timed out was the last of its round: then it goes
dead-letter. Attempts are numbered from 0 (the API's enqueue right after the commit);
``first_attempt`` is 0, or the attempt an operator's retry of a dead row started its round at.
"""

from __future__ import annotations

import enum


class RelayStep(enum.StrEnum):
    WAIT = "wait"
    """Touched within the timeout, or backing off (``not_before`` in the future)."""
    REENQUEUE = "reenqueue"
    """Its next attempt, counted in the row before it is enqueued."""
    DEAD_LETTER = "dead_letter"
    """Give up: the row is dead (and an ``apply_offer`` row's offer fails, the user told)."""


def relay_step(
    *,
    attempts: int,
    first_attempt: int,
    max_attempts: int,
    updated_at: int,
    not_before: int | None,
    timeout_ms: int,
    now: int,
) -> RelayStep:
    """What the relay does with one pending row now."""
    if updated_at > now - timeout_ms or (not_before is not None and not_before > now):
        return RelayStep.WAIT
    if attempts - first_attempt + 1 >= max_attempts:
        return RelayStep.DEAD_LETTER
    return RelayStep.REENQUEUE
