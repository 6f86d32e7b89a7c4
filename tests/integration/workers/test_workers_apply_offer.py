"""Accepted offers applied by a real arq worker process, over a real API server and Redis, on SQLite
and on PostgreSQL (the module runs once per store engine).

The servers here use a Redis of their own: arq's job keys are global to a Redis database, not
per queue, so another test's server enqueueing its outbox row 1 (job id ``1:0``) on the shared
Redis would make this server's enqueue of its own row 1 a deduplicated no-op. Each also uses a
queue of its own (``QUEUE_NAME``). The worker's relay runs with a short interval; the relay
timeout is long where a test proves the API's fast path alone, short where it proves the relay.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis

from cloud.embedded_redis import EmbeddedRedis
from cloud.outbox.enqueue import OutboxJob, outbox_job_id
from cloud.queue import create_queue
from sync.messages import (
    AcceptOffer,
    ConsentScope,
    Notice,
    OfferStatus,
    OfferUpsert,
    Platform,
    ProfileUpdate,
    RegisterPushToken,
    SetConsent,
    SyncReply,
    TokenPair,
)
from tests.support.databases import Databases
from tests.support.live_server import LiveServer, sync_ok
from tests.support.worker import WorkerProcess as Worker

pytestmark = pytest.mark.engines("sqlite", "postgres")

PROFILE = {"currency": "EUR", "limit_cents": 100_000, "used_cents": 25_000, "rate_bps": 1_990}
NEW_LIMIT = 150_000
POLL_S = 0.05
WAIT_S = 20.0


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@pytest.fixture(scope="module")
def queue_name() -> str:
    return f"test-offers-{uuid.uuid4().hex}"


def server_env(queue_name: str, database_url: str | None) -> dict[str, str]:
    env = {"QUEUE_NAME": queue_name}
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    return env


@pytest.fixture(scope="module")
def server(
    queue_name: str, tmp_path_factory: pytest.TempPathFactory, databases: Databases, engine: str
) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp(f"workers-{engine}")
    with (
        EmbeddedRedis(data / "redis") as private,
        LiveServer(data / "api", private.url, env=server_env(queue_name, databases.url(engine))) as live,
    ):
        yield live


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []

    def start(server: LiveServer, queue_name: str, **env: str) -> Worker:
        worker = Worker(server, queue_name, tmp_path / f"worker{len(started)}.log", **env)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if not worker.stopped:
            worker.stop()


def admin(server: LiveServer, method: str, path: str, expected: int, **kwargs: Any) -> Any:
    response = server.admin.request(method, path, **kwargs)
    assert response.status_code == expected, response.text
    return response.json()


def accepted_offline(server: LiveServer) -> tuple[TokenPair, str, SyncReply]:
    """A device sees an offer, accepts it while offline, and syncs the acceptance later."""
    tokens = server.new_device()
    admin(server, "POST", f"/v1/admin/users/{tokens.user_id}/profile", 200, json=PROFILE)
    terms = {
        "new_limit_cents": NEW_LIMIT,
        "rate_bps": 1_790,
        "term_months": 12,
        "expires_at": now_ms() + 14 * 86_400_000,
        "reason_codes": ["RISK_BAND_B"],
        "policy_version": "scorecard-test",
    }
    created = admin(server, "POST", f"/v1/admin/users/{tokens.user_id}/offers", 201, json=terms)
    offer_id: str = created["offer"]["offer_id"]
    seen = sync_ok(server, tokens)
    assert any(isinstance(c, OfferUpsert) and c.offer.offer_id == offer_id for c in seen.changes)
    accepted_at = now_ms() - 60_000  # accepted a minute ago, offline; synced now
    reply = sync_ok(
        server, tokens, [AcceptOffer(seq=1, created_at=accepted_at, offer_id=offer_id)], cursor=seen.cursor
    )
    assert [(r.status, r.code) for r in reply.results] == [("applied", None)]
    return tokens, offer_id, reply


def offer_status(server: LiveServer, user_id: str, offer_id: str) -> str:
    view = admin(server, "GET", f"/v1/admin/users/{user_id}/view", 200)
    return str(next(o["status"] for o in view["offers"] if o["offer_id"] == offer_id))


def wait_status(server: LiveServer, user_id: str, offer_id: str, status: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while (current := offer_status(server, user_id, offer_id)) != status:
        assert time.monotonic() < deadline, f"offer {offer_id} still {current}, wanted {status}"
        time.sleep(POLL_S)


def outbox_of(server: LiveServer, offer_id: str) -> tuple[int, str, int]:
    """``(outbox_id, state, attempts)`` of the one outbox row that names the offer."""
    rows = [
        (r.outbox_id, r.state, r.attempts)
        for r in server.read(lambda store: store.list_outbox())
        if msgspec.json.decode(r.payload).get("offer_id") == offer_id
    ]
    assert len(rows) == 1, rows
    return rows[0]


def trail(server: LiveServer, offer_id: str) -> list[tuple[str, str, str]]:
    rows = admin(server, "GET", f"/v1/admin/offers/{offer_id}/audit", 200)
    return [(r["to_status"], r["actor"].split(":")[0], r["reason_code"]) for r in rows]


def profile_audits(server: LiveServer, user_id: str) -> list[tuple[str, str]]:
    """``(actor, reason_code)`` of the user's profile audit events, oldest first (the admin API)."""
    rows = admin(server, "GET", f"/v1/admin/users/{user_id}/audit", 200)
    return [(r["actor"], r["reason_code"]) for r in rows if r["offer_id"] is None]


def assert_applied_once(server: LiveServer, tokens: TokenPair, offer_id: str, after: SyncReply) -> None:
    assert trail(server, offer_id) == [
        ("offered", "admin", "offer_created"),
        ("accepted", "device", "accepted_on_time"),
        ("applied", "worker", "offer_applied"),
    ]
    assert profile_audits(server, tokens.user_id) == [("admin", "profile_set"), ("worker", "offer_applied")]
    view = admin(server, "GET", f"/v1/admin/users/{tokens.user_id}/view", 200)
    assert view["profile"]["limit_cents"] == NEW_LIMIT
    assert [n["kind"] for n in view["notices"]] == ["limit_applied"]
    # The device sees it all on its next sync.
    reply = sync_ok(server, tokens, cursor=after.cursor)
    upserts = [c for c in reply.changes if isinstance(c, OfferUpsert)]
    assert [u.offer.status for u in upserts] == [OfferStatus.APPLIED]
    updates = [c for c in reply.changes if isinstance(c, ProfileUpdate)]
    assert [u.profile.limit_cents for u in updates] == [NEW_LIMIT]
    notices = [c for c in reply.changes if isinstance(c, Notice)]
    assert [n.kind for n in notices] == ["limit_applied"]


async def _enqueue(redis_url: str, queue_name: str, outbox_id: int, attempt: int) -> tuple[str | None, Any]:
    queue = await create_queue(redis_url, queue_name)
    try:
        job_id = outbox_job_id(outbox_id, attempt)
        queued = await queue.enqueue("apply_offer", OutboxJob(outbox_id=outbox_id, attempt=attempt), job_id)
        result = await queue.result(job_id, timeout_s=WAIT_S) if queued is not None else None
        return queued, result
    finally:
        await queue.close()


def test_accepted_offer_is_applied_by_the_worker(
    server: LiveServer, queue_name: str, start_worker: Callable[..., Worker]
) -> None:
    # A long relay timeout: only the API's enqueue after its commit can have queued the job.
    worker = start_worker(server, queue_name, OUTBOX_RELAY_TIMEOUT_S="600")
    tokens, offer_id, reply = accepted_offline(server)
    wait_status(server, tokens.user_id, offer_id, "applied")
    assert_applied_once(server, tokens, offer_id, reply)
    outbox_id, state, attempts = outbox_of(server, offer_id)
    assert (state, attempts) == ("done", 0)

    # The same attempt enqueued again is deduplicated by arq; a later attempt runs and does nothing.
    assert asyncio.run(_enqueue(str(server.redis_url), queue_name, outbox_id, 0)) == (None, None)
    assert asyncio.run(_enqueue(str(server.redis_url), queue_name, outbox_id, 1)) == (
        outbox_job_id(outbox_id, 1),
        "already_done",
    )
    assert_applied_once(server, tokens, offer_id, reply)
    assert "Traceback" not in worker.stop()


def test_offer_accepted_while_redis_lost_its_queue_is_applied_by_the_relay(
    tmp_path: Path, start_worker: Callable[..., Worker], databases: Databases, engine: str
) -> None:
    # A private Redis, so flushing it touches no other test.
    queue_name = f"test-relay-{uuid.uuid4().hex}"
    env = server_env(queue_name, databases.url(engine))
    with (
        EmbeddedRedis(tmp_path / "redis") as private,
        LiveServer(tmp_path / "api", private.url, env=env) as api,
    ):
        tokens, offer_id, reply = accepted_offline(api)
        client = redis.Redis.from_url(private.url)
        try:
            assert client.zcard(queue_name) == 1  # the API's enqueue after its commit
            client.flushall()  # Redis restarted without persistence: the job is gone
        finally:
            client.close()
        worker = start_worker(api, queue_name, OUTBOX_RELAY_TIMEOUT_S="0.3")
        wait_status(api, tokens.user_id, offer_id, "applied")
        assert_applied_once(api, tokens, offer_id, reply)
        assert outbox_of(api, offer_id)[1:] == ("done", 1)
        assert "relay re-enqueued" in worker.stop()


def test_offer_whose_job_always_fails_goes_dead_letter_and_user_is_told(
    server: LiveServer, queue_name: str, start_worker: Callable[..., Worker]
) -> None:
    worker = start_worker(
        server,
        queue_name,
        OUTBOX_RELAY_TIMEOUT_S="0.2",
        OUTBOX_MAX_ATTEMPTS="3",
        OUTBOX_FAULT_KINDS="apply_offer",
    )
    tokens, offer_id, reply = accepted_offline(server)
    wait_status(server, tokens.user_id, offer_id, "failed")
    assert outbox_of(server, offer_id)[1:] == ("dead", 2)
    assert trail(server, offer_id)[-1] == ("failed", "worker", "apply_attempts_exhausted")
    view = admin(server, "GET", f"/v1/admin/users/{tokens.user_id}/view", 200)
    assert view["profile"]["limit_cents"] == PROFILE["limit_cents"]
    assert [n["kind"] for n in view["notices"]] == ["acceptance_failed"]
    after = sync_ok(server, tokens, cursor=reply.cursor)
    assert [c.offer.status for c in after.changes if isinstance(c, OfferUpsert)] == [OfferStatus.FAILED]
    assert [c.kind for c in after.changes if isinstance(c, Notice)] == ["acceptance_failed"]
    log = worker.stop()
    # Attempts 0, 1 and 2 were enqueued; each that ran failed on purpose, and none came after.
    assert 1 <= log.count("failed, InjectedFault: apply_offer fails on purpose") <= 3


def test_operator_reads_the_users_audit_trail_and_the_log_senders_pushes(
    server: LiveServer, queue_name: str, start_worker: Callable[..., Worker]
) -> None:
    """Without Firebase credentials the worker's log sender records pushes; operators read them."""
    worker = start_worker(server, queue_name, OUTBOX_RELAY_TIMEOUT_S="600")
    tokens = server.new_device()
    token = "fcm-token-" + uuid.uuid4().hex
    granted = sync_ok(
        server,
        tokens,
        [
            SetConsent(seq=1, created_at=now_ms(), scope=ConsentScope.PUSH, granted=True),
            RegisterPushToken(seq=2, created_at=now_ms(), token=token, platform=Platform.ANDROID),
        ],
    )
    assert [r.status for r in granted.results] == ["applied", "applied"]
    admin(server, "POST", f"/v1/admin/users/{tokens.user_id}/profile", 200, json=PROFILE)
    terms = {
        "new_limit_cents": NEW_LIMIT,
        "rate_bps": 1_790,
        "term_months": 12,
        "expires_at": now_ms() + 86_400_000,
    }
    offer_id = admin(server, "POST", f"/v1/admin/users/{tokens.user_id}/offers", 201, json=terms)["offer"][
        "offer_id"
    ]
    reply = sync_ok(
        server, tokens, [AcceptOffer(seq=3, created_at=now_ms(), offer_id=offer_id)], cursor=granted.cursor
    )
    assert [r.status for r in reply.results] == ["applied"]
    wait_status(server, tokens.user_id, offer_id, "applied")

    deadline = time.monotonic() + WAIT_S
    while len(pushes := admin(server, "GET", f"/v1/admin/users/{tokens.user_id}/pushes", 200)) < 2:
        assert time.monotonic() < deadline, pushes
        time.sleep(POLL_S)
    # The sync ping of the new offer, then the limit_applied notice; the token is never shown whole.
    assert [(p["sender"], p["outcome"], p["device_id"]) for p in pushes] == [
        ("log", "sent", tokens.device_id)
    ] * 2
    assert [p["token_suffix"] for p in pushes] == [token[-8:]] * 2
    assert all(token not in str(p) for p in pushes)
    assert pushes[0]["message"]["data"] == {"type": "sync"}
    assert pushes[1]["message"]["data"] == {
        "type": "notice",
        "notice_id": f"limit_applied:{offer_id}",
        "kind": "limit_applied",
    }

    trail = admin(server, "GET", f"/v1/admin/users/{tokens.user_id}/audit", 200)
    assert [(e["offer_id"], e["to_status"], e["actor"].split(":")[0], e["reason_code"]) for e in trail] == [
        (None, None, "admin", "profile_set"),
        (offer_id, "offered", "admin", "offer_created"),
        (offer_id, "accepted", "device", "accepted_on_time"),
        (offer_id, "applied", "worker", "offer_applied"),
        (None, None, "worker", "offer_applied"),
    ]
    assert "Traceback" not in worker.stop()


def test_two_offers_on_one_base_never_lower_the_limit(
    server: LiveServer, queue_name: str, start_worker: Callable[..., Worker]
) -> None:
    """Two open offers made on one base, both accepted: whichever the worker applies first moves the
    limit; the other, made on the old limit, fails at once and the user is told. Without the
    compare-and-set both applied and the later one won, even when lower: 1,000.00 → 1,500.00 →
    1,200.00 EUR."""
    worker = start_worker(server, queue_name, OUTBOX_RELAY_TIMEOUT_S="600")
    tokens = server.new_device()
    user = tokens.user_id
    admin(server, "POST", f"/v1/admin/users/{user}/profile", 200, json=PROFILE)
    limits: dict[str, int] = {}
    for limit in (NEW_LIMIT, 120_000):
        terms = {"new_limit_cents": limit, "rate_bps": 1_790, "expires_at": now_ms() + 86_400_000}
        created = admin(server, "POST", f"/v1/admin/users/{user}/offers", 201, json=terms)
        limits[created["offer"]["offer_id"]] = limit
    seen = sync_ok(server, tokens)
    accept = [AcceptOffer(seq=i + 1, created_at=now_ms(), offer_id=o) for i, o in enumerate(limits)]
    reply = sync_ok(server, tokens, accept, cursor=seen.cursor)
    assert [r.status for r in reply.results] == ["applied", "applied"]
    deadline = time.monotonic() + WAIT_S
    while {offer_status(server, user, o) for o in limits} != {"applied", "failed"}:
        assert time.monotonic() < deadline, {o: offer_status(server, user, o) for o in limits}
        time.sleep(POLL_S)
    (applied,) = [o for o in limits if offer_status(server, user, o) == "applied"]
    (failed,) = [o for o in limits if o != applied]
    assert trail(server, failed)[-1] == ("failed", "worker", "base_changed")
    view = admin(server, "GET", f"/v1/admin/users/{user}/view", 200)
    assert (view["profile"]["limit_cents"], view["profile"]["rate_bps"]) == (limits[applied], 1_790)
    assert sorted(n["kind"] for n in view["notices"]) == ["acceptance_failed", "limit_applied"]
    # Terminal at once: its row is done after one attempt, not dead-lettered after retries.
    assert outbox_of(server, failed)[1:] == ("done", 0)
    after = sync_ok(server, tokens, cursor=reply.cursor)
    told = [c for c in after.changes if isinstance(c, Notice) and c.kind == "acceptance_failed"]
    assert [n.notice_id for n in told] == [f"acceptance_failed:{failed}"]
    assert "Traceback" not in worker.stop()
