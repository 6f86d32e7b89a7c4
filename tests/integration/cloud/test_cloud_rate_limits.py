"""Rate limits over HTTP: shared by two API processes through Redis, answered ``429`` with
``Retry-After`` and ``rate_limited``, and ``503`` (never ``401``/``403``) when Redis is away; the
real SDK converges under them without losing its identity."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import limits
import pytest

from cloud.embedded_redis import EmbeddedRedis, free_port
from cloud.errors import RateLimited
from cloud.ratelimit import RateLimiter, Scope, lease_size
from cloud.settings import RateLimitSettings
from edge_sdk.client import EdgeClient
from edge_sdk.errors import ServerUnavailable
from edge_sdk.settings import EdgeSettings
from edge_sdk.sync_client.http import HttpTransport
from sync.codes import ErrorCode
from sync.messages import ConsentScope, TokenPair
from tests.support.live_server import LiveServer, post_sync, sync_body

REFRESH_PATH = "/v1/devices/token"


def _refresh_garbage(base_url: str, **headers: str) -> httpx.Response:
    # The limiter counts before the body is read: a body that cannot be decoded still counts.
    return httpx.post(
        base_url + REFRESH_PATH, content=b"{}", headers={"content-type": "application/json", **headers}
    )


def _assert_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == ErrorCode.RATE_LIMITED
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= 60
    assert problem["retry_after_s"] == retry_after


def _sync(server: LiveServer, tokens: TokenPair) -> httpx.Response:
    return post_sync(server, tokens.access_token, sync_body(tokens.device_id, ()))


@pytest.fixture
def two_processes(tmp_path: Path, redis_url: str) -> Iterator[tuple[LiveServer, LiveServer]]:
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cloud.sqlite3'}",
        "QUEUE_NAME": f"ec:test:limits:{uuid.uuid4().hex}",
        "RATE_LIMIT_SYNC": "3/minute",
        "RATE_LIMIT_REFRESH": "3/minute",
    }
    with (
        LiveServer(tmp_path / "a", redis_url, env=env) as a,
        LiveServer(tmp_path / "b", redis_url, env=env) as b,
    ):
        yield a, b


def test_two_api_processes_share_one_limit(two_processes: tuple[LiveServer, LiveServer]) -> None:
    a, b = two_processes
    device = a.new_device()
    other = a.new_device()
    assert [_sync(server, device).status_code for server in (a, b, a)] == [200, 200, 200]
    _assert_limited(_sync(b, device))
    _assert_limited(_sync(a, device))
    assert _sync(b, other).status_code == 200  # a device's limit is its own

    # Per client address on token refresh: the two processes count the same address together.
    assert [_refresh_garbage(s.base_url).status_code for s in (a, b, b)] == [400, 400, 400]
    _assert_limited(_refresh_garbage(a.base_url))
    # X-Forwarded-For from a peer that is not a trusted proxy is ignored: still the same address.
    _assert_limited(_refresh_garbage(b.base_url, **{"x-forwarded-for": "198.51.100.7"}))


def test_behind_a_trusted_proxy_each_forwarded_address_has_its_own_budget(
    tmp_path: Path, redis_url: str
) -> None:
    env = {"RATE_LIMIT_ENROLL": "2/minute", "TRUSTED_PROXIES": "127.0.0.1"}
    with LiveServer(tmp_path, redis_url, env=env) as server:
        url = server.base_url + "/v1/devices/enroll"

        def enroll(address: str) -> int:
            headers = {"content-type": "application/json", "x-forwarded-for": address}
            return httpx.post(url, content=b"{}", headers=headers).status_code

        assert [enroll("198.51.100.1") for _ in range(3)] == [400, 400, 429]
        assert enroll("198.51.100.2") == 400
        # Only the rightmost untrusted address counts: a client cannot prepend one of its choice.
        assert enroll("203.0.113.9, 198.51.100.1") == 429


def test_a_limiter_without_redis_answers_503_never_401_or_403(tmp_path: Path) -> None:
    redis = EmbeddedRedis(tmp_path / "redis", port=free_port())  # the same port after a restart
    redis.start()
    try:
        with LiveServer(tmp_path / "api", redis.url, env={"RATE_LIMIT_SYNC": "100/minute"}) as server:
            device = server.new_device()
            assert _sync(server, device).status_code == 200
            redis.stop()
            answers = [
                _sync(server, device),
                _refresh_garbage(server.base_url),
                httpx.post(server.base_url + "/v1/devices/enroll", json={}),
            ]
            for response in answers:
                assert response.status_code == 503, response.text
                assert response.json()["code"] == ErrorCode.UNAVAILABLE
                assert int(response.headers["retry-after"]) == response.json()["retry_after_s"] >= 1
            redis.start()
            assert _sync(server, device).status_code == 200  # back as soon as Redis is
    finally:
        redis.stop()


@contextmanager
def _client(server: LiveServer, path: Path) -> Iterator[EdgeClient]:
    # One mutation and one change per exchange: a sync() runs as many exchanges as there are changes.
    settings = EdgeSettings(
        base_url=server.base_url,
        db_path=path,
        random=random.Random(7).random,
        timeout_s=10.0,
        pull_limit=1,
        push_batch=1,
    )
    transport = HttpTransport(server.base_url, timeout_s=10.0)
    client = EdgeClient(settings, transport=transport)
    try:
        yield client
    finally:
        client.close()
        transport.close()


def _user_with_history(server: LiveServer, notices: int) -> str:
    user_id = server.create_user()
    for n in range(notices):
        server.add_notice(user_id, title=f"notice {n}")
    return user_id


def test_a_device_rebuilding_its_mirror_stays_under_the_default_limit(tmp_path: Path, redis_url: str) -> None:
    default = RateLimitSettings().sync
    assert default is not None
    with LiveServer(tmp_path / "api", redis_url, env={"RATE_LIMIT_SYNC": default}) as server:
        user_id = _user_with_history(server, 40)
        with _client(server, tmp_path / "phone.db") as client:
            client.enroll(server.enrollment_code(user_id))
            for scope in ConsentScope:
                client.set_consent(scope, True)
            outcome = client.sync()
            # A null cursor, one change per reply, one mutation per push: 40+ exchanges in one call.
            assert outcome.ok, outcome
            assert outcome.exchanges >= 40
            assert len(client.notices()) == 40


def test_a_device_held_at_the_limit_converges_with_its_identity(tmp_path: Path, redis_url: str) -> None:
    with LiveServer(tmp_path / "api", redis_url, env={"RATE_LIMIT_SYNC": "3/second"}) as server:
        user_id = _user_with_history(server, 8)
        with _client(server, tmp_path / "phone.db") as client:
            device_id = client.enroll(server.enrollment_code(user_id))
            for scope in ConsentScope:
                client.set_consent(scope, True)
            limited = 0
            deadline = time.monotonic() + 60
            while True:
                outcome = client.sync()
                assert outcome.reenrolled_device_id is None and outcome.revoked is None
                if outcome.ok:
                    break
                assert isinstance(outcome.error, ServerUnavailable) and outcome.error.status == 429, outcome
                limited += 1
                assert time.monotonic() < deadline, "no convergence in 60 s"
                assert outcome.next_attempt_at is not None
                time.sleep(max(0.0, outcome.next_attempt_at / 1000 - time.time()))
            assert limited >= 2  # it was held, more than once
            assert client.store.state().device_id == device_id
            assert len(client.notices()) == 8
            assert client.consent().pending == []
            assert server.user_view(user_id)["consent"] == {scope: True for scope in ConsentScope}
            # A held device keeps its failure count: waiting out Retry-After is pacing, not failing.
            assert client.store.state().consecutive_failures == 0


def test_leases_keep_a_shared_limit_within_a_lease_per_process(redis_url: str) -> None:
    namespace = f"test-{uuid.uuid4().hex}"

    async def scenario() -> tuple[int, int, int]:
        """Requests allowed, the last one allowed, the lease size."""
        settings = RateLimitSettings(sync="100/minute")
        first, second = (RateLimiter(settings, redis_url, namespace) for _ in range(2))
        allowed, last = 0, 0
        try:
            for n in range(200):  # a busy device whose requests alternate between two processes
                try:
                    await (first if n % 2 else second).check(Scope.SYNC, "device")
                    allowed, last = allowed + 1, n
                except RateLimited:
                    pass
            return allowed, last, lease_size(limits.parse("100/minute"))
        finally:
            await first.close()
            await second.close()

    allowed, last, lease = asyncio.run(scenario())
    assert lease == 10
    assert 100 - 2 * (lease - 1) <= allowed <= 100
    assert last < 100 + 2 * lease  # then nothing more: each process remembers the spent budget
