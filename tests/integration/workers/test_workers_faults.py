"""Faults on the money path, over a real API server, a private Redis, worker processes and a database.

Each test gets a Redis and a server of its own (``private_stack``): the tests kill workers mid-job
and the API mid-request, and the jobs and in-progress keys those processes leave in Redis must not
reach another test. Workers relay often; where a test relies on the relay its timeout is short.
The tests marked ``engines("sqlite", "postgres")`` run on both store engines (``database_url``: a
fresh PostgreSQL schema each); the rest on SQLite.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import redis

from cloud.faults import APPLY_AFTER_COMMIT, APPLY_BEFORE_TX, APPLY_IN_TX
from cloud.outbox.enqueue import OutboxJob, outbox_job_id
from cloud.outbox.kinds import APPLY_OFFER, SEND_PUSH
from cloud.queue import create_queue
from sync.messages import (
    AcceptOffer,
    ConsentScope,
    Mutation,
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
from tests.integration.scenarios.devices import Device
from tests.support.databases import Databases
from tests.support.fake_fcm import FakeFcm, fake_fcm_server, write_service_account
from tests.support.live_server import LiveServer, post_sync, sync_body, sync_ok
from tests.support.worker import WorkerProcess, private_stack

PROFILE = {"currency": "EUR", "limit_cents": 100_000, "used_cents": 25_000, "rate_bps": 1_990}
NEW_LIMIT = 150_000
POLL_S = 0.05
WAIT_S = 30.0
RELAY_FAST = {"OUTBOX_RELAY_TIMEOUT_S": "0.3"}
"""The relay takes a stale row's next attempt within about half a second."""
RELAY_OFF = {"OUTBOX_RELAY_TIMEOUT_S": "600"}
"""No relay attempt within a test: only the API's enqueue (or arq's own re-run) can run a job."""


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def wait_for(what: str, check: Callable[[], bool], timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(POLL_S)


BOTH_ENGINES = pytest.mark.engines("sqlite", "postgres")


@pytest.fixture
def database_url(databases: Databases, engine: str) -> str | None:
    """The ``DATABASE_URL`` of the test's server: a fresh PostgreSQL schema, or ``None`` (its own
    SQLite file) on the ``sqlite`` engine."""
    return databases.url(engine)


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def start(server: LiveServer, **env: str) -> WorkerProcess:
        queue = server.extra_env["QUEUE_NAME"]
        worker = WorkerProcess(server, queue, tmp_path / f"worker{len(started)}.log", **env)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if not worker.stopped:
            worker.stop(check=False)


# --- the device side, over raw HTTP ------------------------------------------------------


@dataclass
class Phone:
    """An enrolled device driven with explicit sync requests: seqs, cursor and times are ours."""

    server: LiveServer
    tokens: TokenPair
    cursor: str | None = None
    seq: int = 0

    @property
    def user_id(self) -> str:
        return self.tokens.user_id

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def sync(self, *mutations: Mutation) -> SyncReply:
        reply = sync_ok(self.server, self.tokens, list(mutations), cursor=self.cursor)
        self.cursor = reply.cursor
        return reply

    def allow_push(self, token: str) -> None:
        reply = self.sync(
            SetConsent(seq=self.next_seq(), created_at=now_ms(), scope=ConsentScope.PUSH, granted=True),
            RegisterPushToken(
                seq=self.next_seq(), created_at=now_ms(), token=token, platform=Platform.ANDROID
            ),
        )
        assert [r.status for r in reply.results] == ["applied", "applied"]


def admin(server: LiveServer, method: str, path: str, expected: int, **kwargs: Any) -> Any:
    response = server.admin.request(method, path, **kwargs)
    assert response.status_code == expected, response.text
    return response.json()


def phone_with_offer(
    server: LiveServer, *, expires_in_ms: int = 14 * 86_400_000
) -> tuple[Phone, dict[str, Any]]:
    """A user with a profile and an open offer, and their phone that has synced and sees it."""
    phone = Phone(server, server.new_device())
    admin(server, "POST", f"/v1/admin/users/{phone.user_id}/profile", 200, json=PROFILE)
    terms = {
        "new_limit_cents": NEW_LIMIT,
        "rate_bps": 1_790,
        "term_months": 12,
        "expires_at": now_ms() + expires_in_ms,
        "reason_codes": ["RISK_BAND_B"],
        "policy_version": "scorecard-test",
    }
    created = admin(server, "POST", f"/v1/admin/users/{phone.user_id}/offers", 201, json=terms)
    offer: dict[str, Any] = created["offer"]
    seen = phone.sync()
    assert [c.offer.status for c in seen.changes if isinstance(c, OfferUpsert)] == [OfferStatus.OFFERED]
    return phone, {**offer, "created_at": created["created_at"]}


def accept(phone: Phone, offer_id: str, accepted_at: int | None = None) -> AcceptOffer:
    return AcceptOffer(
        seq=phone.next_seq(),
        created_at=now_ms() - 60_000 if accepted_at is None else accepted_at,
        offer_id=offer_id,
    )


# --- what the database says, through the store ----------------------------------------------


def outbox_rows(server: LiveServer, kind: str, key: str, value: str) -> list[tuple[int, str, int]]:
    """``(outbox_id, state, attempts)`` of the ``kind`` rows whose payload has ``key: value``, by id."""
    return [
        (r.outbox_id, r.state, r.attempts)
        for r in server.read(lambda store: store.list_outbox())
        if r.kind == kind and msgspec.json.decode(r.payload).get(key) == value
    ]


def apply_rows(server: LiveServer, offer_id: str) -> list[tuple[int, str, int]]:
    """``(outbox_id, state, attempts)`` of the offer's ``apply_offer`` rows."""
    return outbox_rows(server, APPLY_OFFER, "offer_id", offer_id)


def push_rows(server: LiveServer, user_id: str) -> list[tuple[int, str, int]]:
    return outbox_rows(server, SEND_PUSH, "user_id", user_id)


def push_attempts(server: LiveServer, user_id: str) -> list[tuple[int, str, str, str | None]]:
    """``(attempt, sender, outcome, error_code)`` of every push attempt to the user."""
    attempts = server.read(lambda store: store.push_attempts(user_id))
    return [(a.attempt, a.sender, a.outcome, a.error_code) for a in attempts]


def token_states(server: LiveServer, user_id: str, token: str) -> list[bool]:
    """Whether ``token`` is active, for each of the user's devices that registered it."""
    return [t.active for t in server.read(lambda store: store.push_tokens(user_id)) if t.token == token]


def offer_status(server: LiveServer, offer_id: str) -> str:
    offer = server.read(lambda store: store.get_offer(offer_id))
    assert offer is not None, offer_id
    return offer.status


def trail(server: LiveServer, offer_id: str) -> list[tuple[str, str, str]]:
    rows = admin(server, "GET", f"/v1/admin/offers/{offer_id}/audit", 200)
    return [(r["to_status"], r["actor"].split(":")[0], r["reason_code"]) for r in rows]


def profile_audits(server: LiveServer, user_id: str) -> list[tuple[str, str]]:
    """``(actor, reason_code)`` of the user's profile audit events, oldest first (the admin API)."""
    rows = admin(server, "GET", f"/v1/admin/users/{user_id}/audit", 200)
    return [(r["actor"], r["reason_code"]) for r in rows if r["offer_id"] is None]


def assert_applied_once(
    server: LiveServer,
    phone: Phone,
    offer_id: str,
    *,
    accepted: str = "accepted_on_time",
    upserts: tuple[OfferStatus, ...] = (OfferStatus.APPLIED,),
) -> None:
    """One application, seen from the audit trail, the profile, the notices, the outbox and the phone.

    The phone pulls from its cursor: ``upserts`` are the offer states it has not seen yet.
    """
    assert trail(server, offer_id) == [
        ("offered", "admin", "offer_created"),
        ("accepted", "device", accepted),
        ("applied", "worker", "offer_applied"),
    ]
    assert profile_audits(server, phone.user_id) == [("admin", "profile_set"), ("worker", "offer_applied")]
    view = server.user_view(phone.user_id)
    assert view["profile"]["limit_cents"] == NEW_LIMIT
    assert [n["kind"] for n in view["notices"]] == ["limit_applied"]
    ((_, state, _),) = apply_rows(server, offer_id)
    assert state == "done"
    reply = phone.sync()
    assert [c.offer.status for c in reply.changes if isinstance(c, OfferUpsert)] == list(upserts)
    assert [c.profile.limit_cents for c in reply.changes if isinstance(c, ProfileUpdate)] == [NEW_LIMIT]
    assert [c.kind for c in reply.changes if isinstance(c, Notice)] == ["limit_applied"]


def assert_unchanged(server: LiveServer, phone: Phone, offer_id: str, before: dict[str, Any]) -> None:
    """A refused acceptance: offer, profile, notices and change log as before; no outbox row."""
    after = server.user_view(phone.user_id)
    for key in ("offers", "profile", "notices", "version"):
        assert after[key] == before[key], key
    assert trail(server, offer_id) == [("offered", "admin", "offer_created")]
    assert apply_rows(server, offer_id) == []


# --- a worker SIGKILLed mid-apply_offer ------------------------------------------------------


@BOTH_ENGINES
@pytest.mark.parametrize("point", [APPLY_BEFORE_TX, APPLY_IN_TX, APPLY_AFTER_COMMIT])
def test_worker_killed_mid_apply_offer_applies_it_exactly_once(
    tmp_path: Path, start_worker: Callable[..., WorkerProcess], point: str, database_url: str | None
) -> None:
    with private_stack(tmp_path, database_url) as server:
        doomed = start_worker(server, FAULT_PAUSE_AT=point, **RELAY_OFF)
        doomed.wait_ready()
        phone, offer = phone_with_offer(server)
        phone.allow_push("tok-kill")  # the log sender records the push; its row is a child of the job's
        assert [r.status for r in phone.sync(accept(phone, offer["offer_id"])).results] == ["applied"]
        doomed.wait_log(f"fault pause at {point}")
        doomed.kill()

        # What the killed worker left: nothing of an uncommitted transaction, all of a committed one.
        committed = point == APPLY_AFTER_COMMIT
        assert offer_status(server, offer["offer_id"]) == ("applied" if committed else "accepted")
        assert apply_rows(server, offer["offer_id"])[0][1:] == (("done" if committed else "pending"), 0)
        assert [r[1:] for r in push_rows(server, phone.user_id)] == ([("pending", 0)] if committed else [])

        survivor = start_worker(server, **RELAY_FAST)
        wait_for("the push", lambda: [s for _, s, _ in push_rows(server, phone.user_id)] == ["done"])
        assert_applied_once(server, phone, offer["offer_id"])
        assert push_attempts(server, phone.user_id) == [(1 if committed else 0, "log", "sent", None)]
        if not committed:
            # The relay took attempt 1 of the row the killed worker never finished.
            assert apply_rows(server, offer["offer_id"])[0][1:] == ("done", 1)
        log = survivor.stop()
        assert "Traceback" not in log and "fault pause" not in log


def test_worker_killed_in_the_transaction_is_rerun_by_arq_after_the_job_timeout(
    tmp_path: Path, start_worker: Callable[..., WorkerProcess]
) -> None:
    # The relay stays out of it: arq itself re-runs a job whose worker died, once the job's
    # in-progress key (WORKER_JOB_TIMEOUT_S + 10 s, set by the worker that took it) expires.
    fast_arq = {"WORKER_JOB_TIMEOUT_S": "1", **RELAY_OFF}
    with private_stack(tmp_path) as server:
        doomed = start_worker(server, FAULT_PAUSE_AT=APPLY_IN_TX, **fast_arq)
        doomed.wait_ready()
        phone, offer = phone_with_offer(server)
        phone.sync(accept(phone, offer["offer_id"]))
        doomed.wait_log(f"fault pause at {APPLY_IN_TX}")
        killed_at = time.monotonic()
        doomed.kill()

        survivor = start_worker(server, **fast_arq)
        wait_for("arq's re-run", lambda: offer_status(server, offer["offer_id"]) == "applied")
        assert time.monotonic() - killed_at > 5  # not before the in-progress key expired
        assert_applied_once(server, phone, offer["offer_id"])
        # The same attempt 0, run a second time by arq; the outbox row counted no new attempt.
        assert apply_rows(server, offer["offer_id"])[0][1:] == ("done", 0)
        ((outbox_id, _, _),) = apply_rows(server, offer["offer_id"])
        log = survivor.stop()
        assert f"apply_offer outbox {outbox_id} attempt 0: applied" in log and "relay re-enqueued" not in log


# --- a worker stopped while a job runs ---------------------------------------------------------


def test_worker_stopped_mid_job_waits_then_cancels_and_nothing_is_lost(
    tmp_path: Path, start_worker: Callable[..., WorkerProcess]
) -> None:
    with private_stack(tmp_path) as server:
        # The job hangs before its transaction; SIGTERM gives it WORKER_SHUTDOWN_WAIT_S, then cancels.
        stopping = start_worker(
            server, FAULT_PAUSE_AT=APPLY_BEFORE_TX, WORKER_SHUTDOWN_WAIT_S="2", **RELAY_OFF
        )
        stopping.wait_ready()
        phone, offer = phone_with_offer(server)
        phone.sync(accept(phone, offer["offer_id"]))
        stopping.wait_log(f"fault pause at {APPLY_BEFORE_TX}")
        started = time.monotonic()
        log = stopping.stop()  # exit code 0 is checked
        waited = time.monotonic() - started
        assert 2 <= waited < 15, waited  # it waited for the running job, then gave up on it
        assert "wait complete" in log and "1 ongoing to cancel" in log
        assert offer_status(server, offer["offer_id"]) == "accepted"
        assert apply_rows(server, offer["offer_id"])[0][1:] == ("pending", 0)

        # The row is still the outbox's: the next worker's relay takes its next attempt.
        survivor = start_worker(server, **RELAY_FAST)
        wait_for("the relayed attempt", lambda: offer_status(server, offer["offer_id"]) == "applied")
        assert_applied_once(server, phone, offer["offer_id"])
        assert apply_rows(server, offer["offer_id"])[0][1:] == ("done", 1)
        assert "Traceback" not in survivor.stop()


# --- the database busy past its timeout: arq tries the job again -----------------------------


def test_job_meeting_a_busy_database_is_retried_by_arq_and_applied_once(
    tmp_path: Path, start_worker: Callable[..., WorkerProcess]
) -> None:
    # SQLite's own fault: another connection holding the file's one write lock past busy_timeout.
    with private_stack(tmp_path) as server:
        queue_name = server.extra_env["QUEUE_NAME"]
        # Accepted while no worker runs; the queued job is then lost, so the test enqueues it
        # itself once it holds the database's write lock (the relay stays out of it).
        phone, offer = phone_with_offer(server)
        phone.sync(accept(phone, offer["offer_id"]))
        ((outbox_id, _, _),) = apply_rows(server, offer["offer_id"])
        client = redis.Redis.from_url(str(server.redis_url))
        try:
            client.flushall()
        finally:
            client.close()
        worker = start_worker(server, **RELAY_OFF)
        worker.wait_ready()
        with closing(sqlite3.connect(server.database.sqlite_path, isolation_level=None)) as lock:
            lock.execute("BEGIN IMMEDIATE")  # another writer holding the lock past busy_timeout
            try:
                asyncio.run(_enqueue_apply(str(server.redis_url), queue_name, outbox_id))
                worker.wait_log("apply_offer try 1: database busy", timeout_s=WAIT_S)
            finally:
                lock.execute("ROLLBACK")
        wait_for("the retried job", lambda: offer_status(server, offer["offer_id"]) == "applied")
        assert_applied_once(server, phone, offer["offer_id"])
        assert apply_rows(server, offer["offer_id"])[0][1:] == ("done", 0)  # no new outbox attempt
        log = worker.stop()
        assert f"apply_offer outbox {outbox_id} attempt 0: applied" in log
        assert "Traceback" not in log


async def _enqueue_apply(redis_url: str, queue_name: str, outbox_id: int) -> None:
    queue = await create_queue(redis_url, queue_name)
    try:
        job = OutboxJob(outbox_id=outbox_id, attempt=0)
        assert await queue.enqueue("apply_offer", job, outbox_job_id(outbox_id, 0)) is not None
    finally:
        await queue.close()


# --- the API killed between its commit and its enqueue --------------------------------------


@BOTH_ENGINES
def test_api_killed_between_commit_and_enqueue_is_relayed_and_the_retry_is_a_duplicate(
    tmp_path: Path, start_worker: Callable[..., WorkerProcess], database_url: str | None
) -> None:
    with private_stack(tmp_path, database_url, FAULT_EXIT_AFTER_COMMIT="1") as server:
        queue = server.extra_env["QUEUE_NAME"]
        assert server.redis_url is not None
        phone, offer = phone_with_offer(server)  # syncs that write no outbox row are served
        mutation = accept(phone, offer["offer_id"])
        body = sync_body(phone.tokens.device_id, [mutation], cursor=phone.cursor)
        with pytest.raises(httpx.TransportError):
            post_sync(server, phone.tokens.access_token, body)
        wait_for("the API to exit", lambda: not server.running)
        assert "fault exit after commit" in server.log_tail()

        # Committed, never enqueued.
        assert offer_status(server, offer["offer_id"]) == "accepted"
        assert [r[1:] for r in apply_rows(server, offer["offer_id"])] == [("pending", 0)]
        client = redis.Redis.from_url(server.redis_url)
        try:
            assert client.zcard(queue) == 0
            assert client.keys("arq:job:*") == []
        finally:
            client.close()

        del server.extra_env["FAULT_EXIT_AFTER_COMMIT"]
        server.start()
        worker = start_worker(server, **RELAY_FAST)
        wait_for("the relay's attempt", lambda: offer_status(server, offer["offer_id"]) == "applied")
        assert [r[1:] for r in apply_rows(server, offer["offer_id"])] == [("done", 1)]

        # The phone never saw a reply and sends the same mutation again: it hears the result.
        reply = sync_ok(server, phone.tokens, [mutation], cursor=phone.cursor)
        assert [(r.seq, r.status, r.replay) for r in reply.results] == [(mutation.seq, "applied", True)]
        assert reply.last_seq == mutation.seq
        assert_applied_once(
            server, phone, offer["offer_id"], upserts=(OfferStatus.ACCEPTED, OfferStatus.APPLIED)
        )
        assert len(apply_rows(server, offer["offer_id"])) == 1
        assert "relay re-enqueued" in worker.stop()


# --- duplicate acceptances -------------------------------------------------------------------


@BOTH_ENGINES
def test_duplicate_accept_is_applied_once(
    tmp_path: Path, start_worker: Callable[..., WorkerProcess], database_url: str | None
) -> None:
    with private_stack(tmp_path, database_url) as server:
        worker = start_worker(server, **RELAY_OFF)
        phone, offer = phone_with_offer(server)
        first = accept(phone, offer["offer_id"])
        cursor = phone.cursor
        assert [r.status for r in phone.sync(first).results] == ["applied"]
        accepted = phone.cursor
        # The same seq again (a lost reply): its result replayed, nothing done.
        replay = sync_ok(server, phone.tokens, [first], cursor=cursor)
        assert [(r.seq, r.status, r.code, r.replay) for r in replay.results] == [
            (first.seq, "applied", None, True)
        ]
        wait_for("the application", lambda: offer_status(server, offer["offer_id"]) == "applied")
        # A second acceptance under a new seq (a double tap queued twice): the offer is not open.
        second = accept(phone, offer["offer_id"])
        reply = phone.sync(second)
        assert [(r.seq, r.status, r.code, r.detail) for r in reply.results] == [
            (second.seq, "rejected", "offer_not_open", "offer is applied")
        ]
        assert reply.last_seq == second.seq
        phone.cursor = accepted
        assert_applied_once(server, phone, offer["offer_id"])
        assert [r[1:] for r in apply_rows(server, offer["offer_id"])] == [("done", 0)]
        assert worker.stop().count("apply_offer outbox") == 1


# --- acceptance after expiry -----------------------------------------------------------------

GRACE = {"OFFER_ACCEPT_GRACE_S": "5", "OFFER_MAX_CLOCK_SKEW_S": "1"}
GRACE_MS = 5_000


def test_accept_arriving_beyond_grace_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    with private_stack(tmp_path, **GRACE) as server:
        phone, offer = phone_with_offer(server, expires_in_ms=1_000)
        accepted_at = offer["created_at"] + 100  # before expiry, on a device clock in step
        wait_for("grace to pass", lambda: now_ms() > offer["expires_at"] + GRACE_MS + 200, timeout_s=10)
        before = server.user_view(phone.user_id)
        cursor = phone.cursor
        mutation = accept(phone, offer["offer_id"], accepted_at)
        reply = phone.sync(mutation)
        assert [(r.seq, r.status, r.code, r.detail) for r in reply.results] == [
            (mutation.seq, "rejected", "offer_expired", "beyond_grace")
        ]
        assert reply.last_seq == mutation.seq
        assert reply.cursor == cursor and reply.changes == []
        assert_unchanged(server, phone, offer["offer_id"], before)
        assert offer_status(server, offer["offer_id"]) == "offered"


def test_accept_made_before_expiry_arriving_within_grace_counts(
    tmp_path: Path, start_worker: Callable[..., WorkerProcess]
) -> None:
    with private_stack(tmp_path, **GRACE) as server:
        phone, offer = phone_with_offer(server, expires_in_ms=1_000)
        accepted_at = offer["created_at"] + 100
        wait_for("expiry", lambda: now_ms() > offer["expires_at"] + 200, timeout_s=10)
        assert now_ms() < offer["expires_at"] + GRACE_MS - 3_000  # well inside the grace period
        reply = phone.sync(accept(phone, offer["offer_id"], accepted_at))
        assert [(r.status, r.code) for r in reply.results] == [("applied", None)]
        cursor = phone.cursor
        assert [c.offer.status for c in reply.changes if isinstance(c, OfferUpsert)] == [OfferStatus.ACCEPTED]
        worker = start_worker(server, **RELAY_FAST)
        wait_for("the application", lambda: offer_status(server, offer["offer_id"]) == "applied")
        phone.cursor = cursor
        assert_applied_once(server, phone, offer["offer_id"], accepted="accepted_offline_in_grace")
        assert "Traceback" not in worker.stop()


# --- a withdrawn offer accepted offline -------------------------------------------------------


def test_withdrawn_offer_accepted_offline_is_refused_and_the_phone_shows_withdrawn(tmp_path: Path) -> None:
    with private_stack(tmp_path) as server:
        device = Device(server, tmp_path / "phone.db")
        try:
            client = device.client
            user_id = server.create_user()
            client.enroll(server.enrollment_code(user_id))
            admin(server, "POST", f"/v1/admin/users/{user_id}/profile", 200, json=PROFILE)
            terms = {
                "new_limit_cents": NEW_LIMIT,
                "rate_bps": 1_790,
                "term_months": 12,
                "expires_at": now_ms() + 86_400_000,
                "reason_codes": ["RISK_BAND_B"],
                "policy_version": "scorecard-test",
            }
            offer_id = admin(server, "POST", f"/v1/admin/users/{user_id}/offers", 201, json=terms)["offer"][
                "offer_id"
            ]
            client.sync(force=True)
            assert [(o.offer_id, o.status) for o in client.offers()] == [(offer_id, "offered")]

            device.transport.online = False
            client.accept_offer(offer_id)
            assert [(o.status, o.pending) for o in client.offers()] == [("accepting", True)]
            client.sync()  # fails: offline
            admin(server, "POST", f"/v1/admin/offers/{offer_id}/withdraw", 200, json={})
            before = server.user_view(user_id)

            device.transport.online = True
            client.sync(force=True)
            assert [(o.offer_id, o.status, o.pending) for o in client.offers()] == [
                (offer_id, "withdrawn", False)
            ]
            assert [(r.type, r.code, r.detail) for r in client.rejections()] == [
                ("AcceptOffer", "offer_not_open", "offer is withdrawn")
            ]
            profile = client.profile()
            assert profile is not None and profile.limit_cents == PROFILE["limit_cents"]
            assert client.status().pending == 0
            after = server.user_view(user_id)
            for key in ("offers", "profile", "notices", "version"):
                assert after[key] == before[key], key
            assert trail(server, offer_id) == [
                ("offered", "admin", "offer_created"),
                ("withdrawn", "admin", "withdrawn"),
            ]
            assert apply_rows(server, offer_id) == []
        finally:
            device.close()


# --- FCM answers through a worker process ----------------------------------------------------


@pytest.fixture
def fcm(tmp_path: Path) -> Iterator[tuple[FakeFcm, dict[str, str]]]:
    """The loopback FCM and the worker environment that sends to it with real firebase-admin."""
    with fake_fcm_server() as fake:
        credentials = write_service_account(tmp_path / "service-account.json", fake)
        yield fake, {"FCM_CREDENTIALS_FILE": str(credentials), "FCM_ENDPOINT": fake.url}


def test_fcm_unregistered_deactivates_the_token_with_one_request(
    tmp_path: Path, start_worker: Callable[..., WorkerProcess], fcm: tuple[FakeFcm, dict[str, str]]
) -> None:
    fake, fcm_env = fcm
    token = f"tok-{uuid.uuid4().hex}"
    fake.fail(token, "UNREGISTERED")
    with private_stack(tmp_path) as server:
        worker = start_worker(server, **fcm_env, **RELAY_FAST)
        phone, offer = phone_with_offer(server)
        phone.allow_push(token)
        phone.sync(accept(phone, offer["offer_id"]))
        wait_for(
            "the push row to finish", lambda: [s for _, s, _ in push_rows(server, phone.user_id)] == ["done"]
        )
        assert token_states(server, phone.user_id, token) == [False]
        assert push_attempts(server, phone.user_id) == [(0, "fcm", "deactivate", "UNREGISTERED")]
        # Many relay timeouts later: still the one request, no retry storm.
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            assert len(fake.sent_to(token)) == 1
            time.sleep(0.1)
        assert [r[1:] for r in push_rows(server, phone.user_id)] == [("done", 0)]
        assert push_attempts(server, phone.user_id) == [(0, "fcm", "deactivate", "UNREGISTERED")]
        assert_applied_once(server, phone, offer["offer_id"])
        assert "Traceback" not in worker.stop()


def test_fcm_quota_exceeded_is_retried_on_a_later_attempt_and_sent(
    tmp_path: Path, start_worker: Callable[..., WorkerProcess], fcm: tuple[FakeFcm, dict[str, str]]
) -> None:
    fake, fcm_env = fcm
    token = f"tok-{uuid.uuid4().hex}"
    fake.fail(token, "QUOTA_EXCEEDED", times=1)
    with private_stack(tmp_path) as server:
        worker = start_worker(server, PUSH_RETRY_BASE_S="1", **fcm_env, **RELAY_FAST)
        phone, offer = phone_with_offer(server)
        phone.allow_push(token)
        phone.sync(accept(phone, offer["offer_id"]))
        wait_for(
            "the push row to finish", lambda: [s for _, s, _ in push_rows(server, phone.user_id)] == ["done"]
        )
        assert push_attempts(server, phone.user_id) == [
            (0, "fcm", "retry", "QUOTA_EXCEEDED"),
            (1, "fcm", "sent", None),
        ]
        assert [r[1:] for r in push_rows(server, phone.user_id)] == [("done", 1)]
        (first_at, second_at) = [a.at for a in server.read(lambda store: store.push_attempts(phone.user_id))]
        assert second_at - first_at >= 1_000  # the back-off was honoured (PUSH_RETRY_BASE_S)
        assert len(fake.sent_to(token)) == 2
        assert token_states(server, phone.user_id, token) == [True]
        assert "Traceback" not in worker.stop()
