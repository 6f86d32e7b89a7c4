"""The cloud's persistent store: a Protocol (:mod:`cloud.store.protocol`) and its backends."""

from __future__ import annotations

from collections.abc import Callable

from cloud.domain.offers.rules import AcceptanceRule
from cloud.settings import DatabaseSettings
from cloud.store.engines.sqlite import SqliteStore, open_sqlite_store
from cloud.store.protocol import Store


class UnsupportedDatabase(ValueError):
    """``DATABASE_URL`` names a backend this build does not provide."""


def check_supported(settings: DatabaseSettings) -> None:
    """Raise :class:`UnsupportedDatabase` unless this build has an engine for ``settings.url``."""
    if not (settings.is_sqlite or settings.is_postgres):
        raise UnsupportedDatabase(f"no store backend for {settings.url.split(':', 1)[0]!r}")


async def open_store(
    settings: DatabaseSettings,
    *,
    acceptance: AcceptanceRule | None = None,
    fault_hook: Callable[[str], None] | None = None,
) -> Store:
    """Open the store ``settings`` names; call ``await store.migrate()`` before serving.

    ``acceptance`` bounds offline acceptances (``AcceptanceSettings.rule()``; the default rule if
    ``None``); ``fault_hook`` is for fault tests only (:mod:`cloud.faults`).
    """
    check_supported(settings)
    if settings.is_postgres:
        # Imported here: the embedded default needs no PostgreSQL driver to start.
        from cloud.store.engines.postgres import open_postgres_store

        return await open_postgres_store(
            settings.url,
            pool_min=settings.pool_min,
            pool_max=settings.pool_max,
            acceptance=acceptance,
            fault_hook=fault_hook,
        )
    return await open_sqlite_store(
        settings.sqlite_path,
        acceptance=acceptance,
        fault_hook=fault_hook,
        wal_limit_bytes=settings.wal_limit_mb * 1024 * 1024,
    )


__all__ = ["SqliteStore", "Store", "UnsupportedDatabase", "check_supported", "open_store"]
