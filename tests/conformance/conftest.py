"""The store conformance suite runs against every engine listed in ``BACKENDS``.

Add an engine by adding its name and an opener here; the tests themselves do not change. The
PostgreSQL engine gets a fresh schema per test on the suite's server (``postgres_url`` of
``tests/conftest.py``: :mod:`tests.support.postgres` finds or starts one, never a skip).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from cloud.settings import DatabaseSettings
from cloud.store import Store, open_store
from tests.support.postgres import fresh_schema

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def database(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[DatabaseSettings]:
    if backend == "sqlite":
        yield DatabaseSettings(f"sqlite:///{tmp_path / 'store.sqlite3'}")
        return
    with fresh_schema(request.getfixturevalue("postgres_url")) as url:
        yield DatabaseSettings(url, pool_max=4)


@pytest.fixture
async def store(database: DatabaseSettings) -> AsyncIterator[Store]:
    opened = await open_store(database)
    await opened.migrate()
    try:
        yield opened
    finally:
        await opened.close()
