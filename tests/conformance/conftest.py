"""The store conformance suite runs against every backend listed in ``BACKENDS``.

Add a backend by adding its name and an opener here; the tests themselves do not change.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cloud.settings import DatabaseSettings
from cloud.store import Store, open_store

BACKENDS = ["sqlite"]


def database_settings(backend: str, tmp_path: Path) -> DatabaseSettings:
    if backend == "sqlite":
        return DatabaseSettings(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    raise ValueError(backend)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
async def store(backend: str, tmp_path: Path) -> AsyncIterator[Store]:
    opened = await open_store(database_settings(backend, tmp_path))
    await opened.migrate()
    try:
        yield opened
    finally:
        await opened.close()
