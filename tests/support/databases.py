"""The database of each server a test starts, by store engine."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Final

from tests.support.postgres import fresh_schema, postgres_server

ENGINES: Final = ("sqlite", "postgres")
"""The store engines a server can run on."""


class Databases:
    """The database of each server the tests start, by engine: ``None`` for SQLite (the server's
    own file in its data folder, :class:`tests.support.live_server.LiveServer`'s default), a new
    schema of the suite's PostgreSQL for ``postgres``. Schemas are dropped at the end of the session,
    after every server on them stopped."""

    def __init__(self) -> None:
        self._stack = ExitStack()
        self._postgres: str | None = None

    def postgres(self) -> str:
        """The URL of the suite's PostgreSQL server (found or started on first use)."""
        if self._postgres is None:
            self._postgres = self._stack.enter_context(postgres_server())
        return self._postgres

    def url(self, engine: str) -> str | None:
        """A ``DATABASE_URL`` for a new server on ``engine``: fresh and empty, or ``None`` for SQLite."""
        if engine == "sqlite":
            return None
        if engine != "postgres":
            raise ValueError(f"no store engine {engine!r}; one of {ENGINES}")
        return self._stack.enter_context(fresh_schema(self.postgres()))

    def close(self) -> None:
        self._stack.close()
