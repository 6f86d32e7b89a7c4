"""The operators' outbox endpoints over a real API server, with real worker processes and Redis.

A worker that fails a job kind on purpose (``OUTBOX_FAULT_KINDS``) with two attempts per round
and a short relay timeout drives rows to dead-letter quickly; the admin API then lists them,
refuses what cannot be retried and sends a dead push back to a worker that delivers it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sync.messages import AcceptOffer, ConsentScope, Platform, RegisterPushToken, SetConsent, TokenPair
from tests.support.live_server import LiveServer, sync_ok
from tests.support.worker import worker_process

PROFILE = {"currency": "EUR", "limit_cents": 100_000, "used_cents": 25_000, "rate_bps": 1_990}
FAST_DEAD = {"OUTBOX_MAX_ATTEMPTS": "2", "OUTBOX_RELAY_TIMEOUT_S": "0.3"}
WAIT_S = 20.0


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@pytest.fixture(scope="module")
def queue_name() -> str:
    return f"test-outbox-admin-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def server(redis_url: str, queue_name: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with LiveServer(
        tmp_path_factory.mktemp("outbox-admin"), redis_url, env={"QUEUE_NAME": queue_name}
    ) as live:
        yield live


def admin(server: LiveServer, method: str, path: str, expected: int, **kwargs: Any) -> Any:
    response = server.admin.request(method, path, **kwargs)
    assert response.status_code == expected, response.text
    return response.json()


def accepted(server: LiveServer, *, push: bool) -> tuple[TokenPair, str]:
    """A device (with the push consent and a token if ``push``) accepts a new offer; its id."""
    tokens = server.new_device()
    admin(server, "POST", f"/v1/admin/users/{tokens.user_id}/profile", 200, json=PROFILE)
    terms = {"new_limit_cents": 150_000, "rate_bps": 1_790, "expires_at": now_ms() + 86_400_000}
    created = admin(server, "POST", f"/v1/admin/users/{tokens.user_id}/offers", 201, json=terms)
    offer_id: str = created["offer"]["offer_id"]
    mutations: list[Any] = []
    if push:
        mutations = [
            SetConsent(seq=1, created_at=now_ms(), scope=ConsentScope.PUSH, granted=True),
            RegisterPushToken(
                seq=2, created_at=now_ms(), token=f"tok-{tokens.device_id}", platform=Platform.ANDROID
            ),
        ]
    mutations.append(AcceptOffer(seq=len(mutations) + 1, created_at=now_ms(), offer_id=offer_id))
    reply = sync_ok(server, tokens, mutations)
    assert [r.status for r in reply.results] == ["applied"] * len(mutations)
    return tokens, offer_id


def find_row(server: LiveServer, kind: str, needle: str) -> tuple[int, str, int] | None:
    """(outbox_id, state, attempts) of the ``kind`` row whose payload mentions ``needle``, if any."""
    found = [
        (r.outbox_id, r.state, r.attempts)
        for r in server.read(lambda store: store.list_outbox())
        if r.kind == kind and needle in r.payload.decode()
    ]
    assert len(found) <= 1
    return found[0] if found else None


def row_of(server: LiveServer, kind: str, needle: str) -> tuple[int, str, int]:
    row = find_row(server, kind, needle)
    assert row is not None, f"no {kind} row for {needle}"
    return row


def state_of(server: LiveServer, kind: str, needle: str) -> str | None:
    row = find_row(server, kind, needle)
    return None if row is None else row[1]


def wait_until(check: Any, what: str, log: Any) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        assert time.monotonic() < deadline, f"{what} not reached:\n{log()[-3000:]}"
        time.sleep(0.05)


def test_outbox_stats_count_rows_and_read_the_queue(server: LiveServer, queue_name: str) -> None:
    before = admin(server, "GET", "/v1/admin/outbox", 200)
    accepted(server, push=False)
    stats = admin(server, "GET", "/v1/admin/outbox", 200)
    counts = {(c["kind"], c["state"]): c["count"] for c in stats["counts"]}
    old = {(c["kind"], c["state"]): c["count"] for c in before["counts"]}
    assert counts[("apply_offer", "pending")] == old.get(("apply_offer", "pending"), 0) + 1
    assert stats["oldest_pending_age_ms"] >= 0
    # No worker runs: the API's enqueue waits in the queue.
    assert stats["queue"]["name"] == queue_name
    assert stats["queue"]["depth"] >= 1 and stats["queue"]["reason"] is None
    assert stats["queue"]["worker_health"] is None  # no worker has reported on this queue


def test_dead_letters_are_listed_and_only_meaningful_retries_run(
    server: LiveServer, queue_name: str, tmp_path: Path
) -> None:
    # An offer whose application always fails: its row dies and the offer fails (terminal).
    _, failed_offer = accepted(server, push=False)
    with worker_process(
        server, queue_name, tmp_path / "apply-fails.log", OUTBOX_FAULT_KINDS="apply_offer", **FAST_DEAD
    ) as worker:
        wait_until(lambda: state_of(server, "apply_offer", failed_offer) == "dead", "apply dead", worker.log)
        worker.stop()
    # An offer applied, whose push (the user has the consent) always fails: the push row dies.
    pushed, applied_offer = accepted(server, push=True)
    notice = f"limit_applied:{applied_offer}"
    with worker_process(
        server, queue_name, tmp_path / "push-fails.log", OUTBOX_FAULT_KINDS="send_push", **FAST_DEAD
    ) as worker:
        wait_until(lambda: state_of(server, "send_push", notice) == "dead", "push dead", worker.log)
        worker.stop()
    apply_id, _, apply_attempts = row_of(server, "apply_offer", failed_offer)
    push_id, _, push_attempts = row_of(server, "send_push", notice)
    assert (apply_attempts, push_attempts) == (1, 1)

    dead = admin(server, "GET", "/v1/admin/outbox/dead", 200, params={"limit": 500})
    listed = {d["outbox_id"]: d for d in dead["items"]}
    assert dead["next_after_id"] is None
    assert listed[apply_id]["kind"] == "apply_offer"
    assert listed[apply_id]["payload"] == {"offer_id": failed_offer}
    assert (listed[apply_id]["attempts"], listed[apply_id]["first_attempt"]) == (1, 0)
    assert listed[apply_id]["last_error"] == "not done after 2 attempts"
    push = listed[push_id]
    assert push["kind"] == "send_push" and push["parent_id"] is not None
    # Ids and kinds only: the notice's texts are not in an operator's list.
    assert push["payload"] == {"user_id": pushed.user_id, "notice_id": notice, "notice_kind": "limit_applied"}
    assert push["dead_at"] >= push["created_at"]
    # Paging: one row a page, in id order, until next_after_id is null.
    pages: list[int] = []
    after = 0
    while True:
        page = admin(server, "GET", "/v1/admin/outbox/dead", 200, params={"limit": 1, "after_id": after})
        pages += [d["outbox_id"] for d in page["items"]]
        if page["next_after_id"] is None:
            break
        after = page["next_after_id"]
    assert pages == sorted(listed)

    # The failed offer's application is not retried: failed is terminal and the user was told.
    stats_before = admin(server, "GET", "/v1/admin/outbox", 200)
    trail_before = admin(server, "GET", f"/v1/admin/offers/{failed_offer}/audit", 200)
    refused = server.admin.post(f"/v1/admin/outbox/{apply_id}/retry")
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "outbox_not_retryable" and "failed" in refused.json()["detail"]
    assert row_of(server, "apply_offer", failed_offer) == (apply_id, "dead", 1)
    assert admin(server, "GET", f"/v1/admin/offers/{failed_offer}/audit", 200) == trail_before
    assert admin(server, "GET", "/v1/admin/outbox", 200)["counts"] == stats_before["counts"]

    # The push goes back for a new round, under a job id arq has not seen.
    retried = admin(server, "POST", f"/v1/admin/outbox/{push_id}/retry", 200)
    assert retried == {
        "outbox_id": push_id,
        "kind": "send_push",
        "state": "pending",
        "attempt": 2,
        "enqueued": True,
    }
    assert row_of(server, "send_push", notice) == (push_id, "pending", 2)
    again = server.admin.post(f"/v1/admin/outbox/{push_id}/retry")
    assert (again.status_code, again.json()["code"]) == (409, "outbox_not_retryable")
    assert admin(server, "GET", "/v1/admin/outbox", 200)["queue"]["depth"] >= 1
    with worker_process(server, queue_name, tmp_path / "healthy.log") as worker:
        wait_until(lambda: state_of(server, "send_push", notice) == "done", "push done", worker.log)
        # A running worker refreshes its health line, which the operator view shows.
        health = admin(server, "GET", "/v1/admin/outbox", 200)["queue"]["worker_health"]
        assert health is not None and "j_complete=" in health, health
        worker.stop()
    # A stopped worker removes its health line.
    assert admin(server, "GET", "/v1/admin/outbox", 200)["queue"]["worker_health"] is None
    attempts = server.read(lambda store: store.push_attempts(pushed.user_id))
    assert [(a.attempt, a.sender, a.outcome) for a in attempts if a.outbox_id == push_id] == [
        (2, "log", "sent")
    ]
    assert push_id not in {
        d["outbox_id"] for d in admin(server, "GET", "/v1/admin/outbox/dead", 200)["items"]
    }
