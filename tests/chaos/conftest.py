"""One real cloud server for the whole chaos run; every schedule makes its own users."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.live_server import LiveServer

ACCESS_TTL_S = 900
"""The server's access token lifetime; faults move a device clock past it to force a refresh."""


@pytest.fixture(scope="session")
def chaos_server(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    env = {"ACCESS_TOKEN_TTL_S": str(ACCESS_TTL_S)}
    with LiveServer(tmp_path_factory.mktemp("chaos-cloud"), redis_url, env=env) as server:
        yield server


@pytest.fixture
def live_chaos_server(chaos_server: LiveServer) -> LiveServer:
    """The run's server, started again if an earlier schedule failed while it was down."""
    if not chaos_server.running:
        chaos_server.start()
    return chaos_server
