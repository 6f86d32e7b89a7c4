"""A migrated SQLite store per test, for the credit tests that run jobs and store calls."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cloud.settings import DatabaseSettings
from cloud.store import Store, open_store


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await open_store(DatabaseSettings(f"sqlite:///{tmp_path / 'store.sqlite3'}"))
    await opened.migrate()
    try:
        yield opened
    finally:
        await opened.close()
