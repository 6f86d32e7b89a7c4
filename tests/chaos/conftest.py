"""One real cloud server, one worker process, a private Redis and a fake FCM for the whole chaos
run, per store engine; every schedule makes its own users.

``chaos_env`` runs the API and the worker on SQLite (the server's own file); ``chaos_env_pg`` on a
PostgreSQL schema of its own, with a Redis and a fake FCM of its own too, so its schedules never
meet the SQLite run's. The Redis is the run's own, so a Redis-loss fault's ``FLUSHALL`` touches no
other test. The worker relays often with a short timeout (a lost job costs half a second) and gets
many more attempts than the faults can use up, so an offer that ends ``failed`` is a real failure.
It sends pushes through the real firebase-admin code to the fake FCM, with a short back-off after
a 429.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from cloud.embedded_redis import EmbeddedRedis
from tests.chaos.faults import ChaosEnv
from tests.support.databases import Databases
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


@contextmanager
def chaos_processes(data: Path, database_url: str | None) -> Iterator[ChaosEnv]:
    """Redis, fake FCM, API and worker of one run, the API and worker on ``database_url`` (its own
    SQLite file when ``None``)."""
    queue_name = f"chaos-{uuid.uuid4().hex}"
    env = {"ACCESS_TOKEN_TTL_S": str(ACCESS_TTL_S), "QUEUE_NAME": queue_name}
    if database_url is not None:
        env["DATABASE_URL"] = database_url
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


@pytest.fixture(scope="session")
def chaos_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChaosEnv]:
    with chaos_processes(tmp_path_factory.mktemp("chaos-cloud"), None) as env:
        yield env


@pytest.fixture(scope="session")
def chaos_env_pg(tmp_path_factory: pytest.TempPathFactory, databases: Databases) -> Iterator[ChaosEnv]:
    with chaos_processes(tmp_path_factory.mktemp("chaos-cloud-pg"), databases.url("postgres")) as env:
        yield env


def _live(env: ChaosEnv) -> ChaosEnv:
    """The run's processes, the server and worker started again if an earlier schedule failed
    while one was down."""
    if not env.server.running:
        env.server.start()
    env.ensure_worker()
    return env


@pytest.fixture
def live_chaos_env(chaos_env: ChaosEnv) -> ChaosEnv:
    return _live(chaos_env)


@pytest.fixture
def live_chaos_env_pg(chaos_env_pg: ChaosEnv) -> ChaosEnv:
    return _live(chaos_env_pg)
