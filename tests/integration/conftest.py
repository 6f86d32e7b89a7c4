"""Which store engine the servers of an integration module run on.

A module marked ``pytestmark = pytest.mark.engines("sqlite", "postgres")`` runs each of its tests
that use the ``engine`` fixture once per engine named (ids ``[sqlite]`` and ``[postgres]``; the
PostgreSQL runs also carry the ``postgres`` mark); any other module runs on SQLite. The fixtures
that start servers (``live_server``, a module's own ``server``) take ``engine`` and ask
``databases.url(engine)`` for the server's ``DATABASE_URL``; the tests read what a server holds
through the store interface (``server.read``) or the admin API, so they are the same on both.
"""

from __future__ import annotations

import pytest


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("engines")
    if marker is None or "engine" not in metafunc.fixturenames:
        return
    params = [
        pytest.param(name, marks=[pytest.mark.postgres] if name == "postgres" else [], id=name)
        for name in marker.args
    ]
    metafunc.parametrize("engine", params, indirect=True, scope="module")


@pytest.fixture(scope="module")
def engine(request: pytest.FixtureRequest) -> str:
    """The store engine of the module's servers: ``sqlite`` unless the module is marked ``engines``."""
    name: str = getattr(request, "param", "sqlite")
    return name
