"""One real cloud server, one worker process, a private Redis and a fake FCM for the whole chaos
run; every schedule makes its own users.

The Redis is the run's own, so a Redis-loss fault's ``FLUSHALL`` touches no other test. The
worker relays often with a short timeout (a lost job costs half a second) and gets many more
attempts than the faults can use up, so an offer that ends ``failed`` is a real failure. It sends
pushes through the real firebase-admin code to the fake FCM, with a short back-off after a 429.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from cloud.embedded_redis import EmbeddedRedis
from tests.chaos.faults import ChaosEnv
from tests.support.fake_fcm import fake_fcm_server, write_service_account
from tests.support.live_server import LiveServer
from tests.support.worker import worker_process

ACCESS_TTL_S = 900
"""The server's access token lifetime; faults move a device clock past it to force a refresh."""

WORKER_ENV = {
    "OUTBOX_RELAY_TIMEOUT_S": "0.3",
    "OUTBOX_RELAY_INTERVAL_S": "0.1",
    "OUTBOX_MAX_ATTEMPTS": "40",
    "PUSH_RETRY_BASE_S": "0.2",
}
"""A pending row untouched for 0.5 s gets its next attempt; 40 attempts are 20 s of that. A push
FCM asked to retry backs off 0.2 s (doubling per attempt) instead of 30 s."""


@pytest.fixture(scope="session")
def chaos_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChaosEnv]:
    data = tmp_path_factory.mktemp("chaos-cloud")
    queue_name = f"chaos-{uuid.uuid4().hex}"
    env = {"ACCESS_TOKEN_TTL_S": str(ACCESS_TTL_S), "QUEUE_NAME": queue_name}
    with (
        EmbeddedRedis(data / "redis") as redis,
        fake_fcm_server() as fcm,
        LiveServer(data / "api", redis.url, env=env) as server,
    ):
        credentials = write_service_account(data / "fcm-service-account.json", fcm)
        push = {"FCM_CREDENTIALS_FILE": str(credentials), "FCM_ENDPOINT": fcm.url}
        with worker_process(server, queue_name, data / "worker.log", **WORKER_ENV, **push) as worker:
            worker.wait_ready()
            yield ChaosEnv(server=server, worker=worker, redis_url=redis.url, fcm=fcm)


@pytest.fixture
def live_chaos_env(chaos_env: ChaosEnv) -> ChaosEnv:
    """The run's processes, the server and worker started again if an earlier schedule failed
    while one was down."""
    if not chaos_env.server.running:
        chaos_env.server.start()
    chaos_env.ensure_worker()
    return chaos_env
