"""Table-driven tests of the exactly-once push rule."""

import pytest

from sync.push import Action, Next, Resend, filler_seqs, is_rolled_back, judge_resend, next_push, plan_push

D, P = Action.DUPLICATE, Action.PROCESS

CASES = [
    # (last_seq, pushed seqs, expected actions, new last_seq, expected_seq)
    (0, [], [], 0, None),
    (0, [1, 2, 3], [P, P, P], 3, None),
    (3, [1, 2, 3], [D, D, D], 3, None),
    (2, [1, 2, 3, 4], [D, D, P, P], 4, None),
    (0, [2, 3], [], 0, 1),
    (2, [3, 5, 6], [P], 3, 4),
    (2, [3, 3, 4], [P, D, P], 4, None),
    (5, [6, 2, 7], [P, D, P], 7, None),
    (1, [4], [], 1, 2),
    (3, [1, 5], [D], 3, 4),  # a gap right after duplicates
    (0, [1, 2, 4, 3], [P, P], 2, 3),  # nothing after a gap is looked at, even a seq that would fit
    (0, [1, 1, 2], [P, D, P], 2, None),  # a repeated seq within one batch is a duplicate
    (2**53 - 1, [2**53], [P], 2**53, None),  # the largest seq
]


def test_steps_carry_push_positions() -> None:
    plan = plan_push(1, [1, 2, 3, 9])
    assert [(s.index, s.seq) for s in plan.steps] == [(0, 1), (1, 2), (2, 3)]
    assert (plan.last_seq, plan.expected_seq) == (3, 4)


@pytest.mark.parametrize(("last", "seqs", "actions", "new_last", "expected"), CASES)
def test_plan_push(last, seqs, actions, new_last, expected):
    plan = plan_push(last, seqs)
    assert [s.action for s in plan.steps] == actions
    assert [s.seq for s in plan.steps] == seqs[: len(actions)]
    assert plan.last_seq == new_last
    assert plan.expected_seq == expected


def test_negative_last_seq_is_refused():
    with pytest.raises(ValueError):
        plan_push(-1, [1])


@pytest.mark.parametrize(("reply", "highest", "rolled"), [(0, 0, False), (5, 5, False), (6, 5, True)])
def test_rollback_detection(reply, highest, rolled):
    assert is_rolled_back(reply, highest) is rolled


A, B = b"a" * 32, b"b" * 32

# (stored digest, result kept, pushed digest, pushed is a Withdrawn, verdict)
RESEND_TABLE = [
    (A, True, A, False, Resend.REPLAY),
    (A, True, A, True, Resend.REPLAY),  # the Withdrawn itself was processed
    (A, False, A, False, Resend.DUPLICATE),  # processed before results were kept
    (None, False, A, False, Resend.DUPLICATE),  # processed before digests were kept
    (A, True, B, False, Resend.CONFLICT),  # a store restored from a backup
    (A, False, B, False, Resend.CONFLICT),
    (A, True, B, True, Resend.DUPLICATE),  # a take-back that came too late
]


@pytest.mark.parametrize(("stored", "has_result", "pushed", "withdrawn", "verdict"), RESEND_TABLE)
def test_judge_resend(
    stored: bytes | None, has_result: bool, pushed: bytes, withdrawn: bool, verdict: Resend
) -> None:
    assert (
        judge_resend(stored_digest=stored, has_result=has_result, pushed_digest=pushed, withdrawn=withdrawn)
        is verdict
    )


# --- the device's half: next_push and filler_seqs -------------------------------------------------

R, C, DONE, AGAIN, NONE = Next.RESEND, Next.CONTINUE, Next.DONE, Next.ASKED_AGAIN, Next.PROCESSED_NONE

NEXT_CASES = [
    # (pushed, fillers, last_seq, expected_seq, has_more, pending, resent) -> (action, expected)
    ([1, 2, 3], 0, 3, None, False, False, [], (DONE, None)),  # all processed, nothing left
    ([1, 2, 3], 0, 3, None, False, True, [], (C, None)),  # more in the outbox
    ([1, 2, 3], 0, 3, None, True, False, [], (C, None)),  # more to pull
    ([], 0, 5, None, False, True, [], (DONE, None)),  # a pull-only exchange never pushes on
    ([], 0, 5, None, True, False, [], (C, None)),  # ...but pulls on
    ([4, 5], 0, 2, 3, False, True, [], (R, 3)),  # a gap: resend from 3
    ([4, 5], 0, 2, 3, False, True, [3], (AGAIN, 3)),  # asked for 3 again after resending it
    ([4, 5], 0, 2, 3, False, True, [7], (R, 3)),  # other seqs resent before do not matter
    ([4, 5], 0, 3, None, False, True, [], (NONE, None)),  # none processed and no gap
    ([3, 4, 5], 3, 5, None, False, True, [], (C, 6)),  # tombstones go on after a wide gap
    ([3, 4, 5], 3, 5, None, False, False, [], (DONE, None)),  # ...unless nothing is pending
    ([3, 4, 9], 2, 9, None, False, False, [], (DONE, None)),  # the batch reached the outbox
    ([3, 4, 9], 2, 9, None, True, False, [], (C, 10)),
    ([1], 0, 7, None, False, False, [], (DONE, None)),  # last_seq beyond: the store judges rollback
]


@pytest.mark.parametrize(
    ("pushed", "fillers", "last", "expected_seq", "has_more", "pending", "resent", "want"), NEXT_CASES
)
def test_next_push(pushed, fillers, last, expected_seq, has_more, pending, resent, want):
    step = next_push(
        pushed=pushed,
        fillers=fillers,
        last_seq=last,
        expected_seq=expected_seq,
        has_more=has_more,
        pending=pending,
        resent=frozenset(resent),
    )
    assert (step.action, step.expected) == want


@pytest.mark.parametrize(
    ("expected", "first_pending", "highest", "limit", "seqs"),
    [
        (3, 6, 9, 100, [3, 4, 5]),  # up to the first seq the device still holds
        (3, None, 5, 100, [3, 4, 5]),  # nothing pending: up to the highest allocated
        (3, 100, 200, 4, [3, 4, 5, 6]),  # at most one batch; the rest in the next push
        (6, 6, 9, 100, []),  # the first pending seq is the one asked for: no tombstone
        (8, 6, 9, 100, []),  # asked beyond what is held: nothing to fill
        (1, None, 0, 100, []),  # a device that never allocated a seq
    ],
)
def test_filler_seqs(expected, first_pending, highest, limit, seqs):
    assert list(filler_seqs(expected, first_pending, highest, limit)) == seqs
