"""Real cloud servers for the cloud integration tests; each test makes its own users.

``live_server`` runs in development (the default settings); ``production_server`` with
``ENV=production`` and production-grade secrets.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.live_server import LiveServer
from tests.support.secrets import PRODUCTION_ENV


@pytest.fixture(scope="session")
def live_server(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with LiveServer(tmp_path_factory.mktemp("cloud"), redis_url) as server:
        yield server


@pytest.fixture(scope="session")
def production_server(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with LiveServer(tmp_path_factory.mktemp("production"), redis_url, env=PRODUCTION_ENV) as server:
        yield server
