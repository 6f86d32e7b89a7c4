"""The real cloud processes, a private Redis and a fake FCM for the whole chaos run, per store
engine; every schedule makes its own users.

``chaos_env`` runs one API process and one worker on SQLite (the server's own file).
``chaos_env_pg`` is the scale-out shape on a PostgreSQL schema of its own: two API processes
behind a round-robin balancer (:class:`tests.support.api_group.ApiGroup`) and two workers, with a
Redis and a fake FCM of its own too, so its schedules never meet the SQLite run's; its kill faults
hit one process or all of them (``ProcessKill.pick``). The Redis is the run's own, so a Redis-loss
fault's ``FLUSHALL`` touches no other test. The workers relay often with a short timeout (a lost
job costs half a second) and get many more attempts than the faults can use up, so an offer that
ends ``failed`` is a real failure. They send pushes through the real firebase-admin code to the
fake FCM, with a short back-off after a 429.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from cloud.embedded_redis import EmbeddedRedis
from tests.chaos.faults import ChaosEnv
from tests.support.api_group import ApiGroup
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


POSTGRES_API_PROCESSES = 2
POSTGRES_WORKERS = 2


@contextmanager
def chaos_processes(
    data: Path, database_url: str | None, api: int = 1, workers: int = 1
) -> Iterator[ChaosEnv]:
    """Redis, fake FCM, ``api`` API processes and ``workers`` workers of one run, on
    ``database_url`` (the API's own SQLite file when ``None``; several API processes need a
    shared database and stand behind a balancer)."""
    queue_name = f"chaos-{uuid.uuid4().hex}"
    env = {"ACCESS_TOKEN_TTL_S": str(ACCESS_TTL_S), "QUEUE_NAME": queue_name}
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    with ExitStack() as stack:
        redis = stack.enter_context(EmbeddedRedis(data / "redis"))
        fcm = stack.enter_context(fake_fcm_server())
        if api == 1:
            server: LiveServer | ApiGroup = stack.enter_context(LiveServer(data / "api", redis.url, env=env))
            first = server
        else:
            server = stack.enter_context(ApiGroup(data / "api", redis.url, api, env))
            first = server.servers[0]
        credentials = write_service_account(data / "fcm-service-account.json", fcm)
        push = {"FCM_CREDENTIALS_FILE": str(credentials), "FCM_ENDPOINT": fcm.url}
        running = [
            stack.enter_context(
                worker_process(first, queue_name, data / f"worker-{n + 1}.log", **WORKER_ENV, **push)
            )
            for n in range(workers)
        ]
        for worker in running:
            worker.wait_ready()
        yield ChaosEnv(server=server, workers=running, redis_url=redis.url, fcm=fcm)


@pytest.fixture(scope="session")
def chaos_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChaosEnv]:
    with chaos_processes(tmp_path_factory.mktemp("chaos-cloud"), None) as env:
        yield env


@pytest.fixture(scope="session")
def chaos_env_pg(tmp_path_factory: pytest.TempPathFactory, databases: Databases) -> Iterator[ChaosEnv]:
    folder, url = tmp_path_factory.mktemp("chaos-cloud-pg"), databases.url("postgres")
    with chaos_processes(folder, url, api=POSTGRES_API_PROCESSES, workers=POSTGRES_WORKERS) as env:
        yield env


def _live(env: ChaosEnv) -> ChaosEnv:
    """The run's processes, API and workers started again if an earlier schedule failed while
    one was down."""
    env.restart_api()
    env.ensure_workers()
    return env


@pytest.fixture
def live_chaos_env(chaos_env: ChaosEnv) -> ChaosEnv:
    return _live(chaos_env)


@pytest.fixture
def live_chaos_env_pg(chaos_env_pg: ChaosEnv) -> ChaosEnv:
    return _live(chaos_env_pg)
