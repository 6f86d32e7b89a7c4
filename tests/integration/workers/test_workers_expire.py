"""The ``expire_offers`` cron in a real worker process, over a real API server, Redis and SQLite.

The server and the worker run with a one-second acceptance grace period and a one-second cron,
so an offer created to expire a moment from now is expired by the worker within seconds; an
offer that expires later stays open. The device then learns the expiry through sync and an
acceptance it made offline before expiry, arriving beyond the grace period, is refused.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sync.messages import AcceptOffer, OfferStatus, OfferUpsert
from tests.support.live_server import LiveServer, sync_ok
from tests.support.worker import worker_process

PROFILE = {"currency": "EUR", "limit_cents": 100_000, "used_cents": 25_000, "rate_bps": 1_990}
SHORT_RULE = {"OFFER_ACCEPT_GRACE_S": "1", "OFFER_MAX_CLOCK_SKEW_S": "1"}
WAIT_S = 20.0


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@pytest.fixture(scope="module")
def queue_name() -> str:
    return f"test-expire-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def server(redis_url: str, queue_name: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    env = {"QUEUE_NAME": queue_name, **SHORT_RULE}
    with LiveServer(tmp_path_factory.mktemp("expire"), redis_url, env=env) as live:
        yield live


def admin(server: LiveServer, method: str, path: str, expected: int, **kwargs: Any) -> Any:
    response = server.admin.request(method, path, **kwargs)
    assert response.status_code == expected, response.text
    return response.json()


def create_offer(server: LiveServer, user_id: str, expires_at: int) -> str:
    terms = {"new_limit_cents": 150_000, "rate_bps": 1_790, "term_months": 12, "expires_at": expires_at}
    created = admin(server, "POST", f"/v1/admin/users/{user_id}/offers", 201, json=terms)
    offer_id: str = created["offer"]["offer_id"]
    return offer_id


def statuses(server: LiveServer, user_id: str) -> dict[str, str]:
    view = admin(server, "GET", f"/v1/admin/users/{user_id}/view", 200)
    return {o["offer_id"]: o["status"] for o in view["offers"]}


def test_worker_cron_expires_offers_beyond_the_grace_period(
    server: LiveServer, queue_name: str, tmp_path: Path
) -> None:
    tokens = server.new_device()
    user_id = tokens.user_id
    admin(server, "POST", f"/v1/admin/users/{user_id}/profile", 200, json=PROFILE)
    soon = create_offer(server, user_id, now_ms() + 1_000)
    later = create_offer(server, user_id, now_ms() + 3_600_000)
    seen = sync_ok(server, tokens)
    profile_before = admin(server, "GET", f"/v1/admin/users/{user_id}/view", 200)["profile"]

    env = {**SHORT_RULE, "OFFER_EXPIRY_INTERVAL_S": "1"}
    with worker_process(server, queue_name, tmp_path / "worker.log", **env) as worker:
        worker.wait_ready()
        deadline = time.monotonic() + WAIT_S
        while statuses(server, user_id)[soon] != "expired":
            assert time.monotonic() < deadline, worker.log()[-3000:]
            time.sleep(0.1)
        log = worker.stop()
    assert "expire_offers: 1 offer(s) expired" in log
    assert statuses(server, user_id) == {soon: "expired", later: "offered"}

    trail = admin(server, "GET", f"/v1/admin/offers/{soon}/audit", 200)
    last = trail[-1]
    assert (last["from_status"], last["to_status"], last["actor"], last["reason_code"], last["ref"]) == (
        "offered",
        "expired",
        "system",
        "offer_expired",
        "cron:expire_offers",
    )
    # The device learns the expiry on its next sync.
    reply = sync_ok(server, tokens, cursor=seen.cursor)
    [upsert] = [c for c in reply.changes if isinstance(c, OfferUpsert)]
    assert (upsert.offer.offer_id, upsert.offer.status) == (soon, OfferStatus.EXPIRED)

    # Accepted offline before expiry, arriving beyond the grace period: refused, nothing changed.
    created_at = trail[0]["at"] + 10
    refused = sync_ok(
        server, tokens, [AcceptOffer(seq=1, created_at=created_at, offer_id=soon)], cursor=reply.cursor
    )
    assert [(r.status, r.code, r.detail) for r in refused.results] == [
        ("rejected", "offer_expired", "beyond_grace")
    ]
    assert refused.last_seq == 1 and refused.changes == []
    view = admin(server, "GET", f"/v1/admin/users/{user_id}/view", 200)
    assert view["profile"] == profile_before
    assert len(admin(server, "GET", f"/v1/admin/offers/{soon}/audit", 200)) == len(trail)
