"""Real cloud servers for the cloud integration tests; each test makes its own users.

``live_server`` runs in development (the default settings) on the module's store engine
(``engine``, see ``tests/integration/conftest.py``): one server per engine for the whole session,
started when a module first needs it. ``production_server`` runs with ``ENV=production`` and
production-grade secrets, on SQLite.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.databases import Databases
from tests.support.live_server import LiveServer
from tests.support.secrets import PRODUCTION_ENV


class LiveServers:
    """One development server per store engine, started on first use, closed at the end."""

    def __init__(self, folder: Path, redis_url: str, databases: Databases) -> None:
        self.folder = folder
        self.redis_url = redis_url
        self.databases = databases
        self.started: dict[str, LiveServer] = {}

    def get(self, engine: str) -> LiveServer:
        if engine not in self.started:
            url = self.databases.url(engine)
            env = {} if url is None else {"DATABASE_URL": url}
            server = LiveServer(self.folder / engine, self.redis_url, env=env)
            server.start()
            self.started[engine] = server
        return self.started[engine]

    def close(self) -> None:
        for server in self.started.values():
            server.close()


@pytest.fixture(scope="session")
def live_servers(
    redis_url: str, tmp_path_factory: pytest.TempPathFactory, databases: Databases
) -> Iterator[LiveServers]:
    servers = LiveServers(tmp_path_factory.mktemp("cloud"), redis_url, databases)
    try:
        yield servers
    finally:
        servers.close()


@pytest.fixture(scope="module")
def live_server(live_servers: LiveServers, engine: str) -> LiveServer:
    return live_servers.get(engine)


@pytest.fixture(scope="session")
def production_server(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with LiveServer(tmp_path_factory.mktemp("production"), redis_url, env=PRODUCTION_ENV) as server:
        server.sign_in_as_admin()
        yield server
