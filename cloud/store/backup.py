"""Copying a live database out and an old copy into an empty one (``python -m cloud.backup``).

SQLite: the online backup API (``sqlite3.Connection.backup``) copies a consistent snapshot while
the API and workers keep writing. PostgreSQL: ``pg_dump`` of the server's own major version
(``/usr/lib/postgresql/<major>/bin`` on Debian, else the one on ``PATH`` if its major matches) in
its custom format, and ``pg_restore`` of the same major into an empty database.

Nothing here encrypts or decides what a restore means for devices: :mod:`cloud.backup` does.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Final

import psycopg

from cloud.settings import DatabaseSettings

_DEBIAN_BIN: Final = "/usr/lib/postgresql/{major}/bin/{tool}"


class BackupFailed(RuntimeError):
    """A copy could not be made or put back (the message says why; nothing was changed)."""


def dump_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of the database at ``source`` in ``target`` (a new file)."""
    if not source.exists():
        raise BackupFailed(f"no database at {source}")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        # One step: in WAL mode the copy reads one snapshot while writers go on. (Steps would let
        # each write in between restart the copy, which under steady traffic might never end.)
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def check_sqlite_target(target: Path) -> None:
    """A restore goes into an empty data folder: no database file at ``target`` yet."""
    for path in (target, target.with_name(target.name + "-wal")):
        if path.exists():
            raise BackupFailed(f"{path} exists: a restore goes into an empty data folder")


def check_sqlite_copy(copy: Path) -> None:
    """:class:`BackupFailed` unless ``copy`` is a SQLite database passing its integrity check."""
    check = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
    try:
        if check.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise BackupFailed("the copy fails SQLite's integrity check")
    except sqlite3.DatabaseError as exc:
        raise BackupFailed(f"the copy is not a SQLite database: {exc}") from None
    finally:
        check.close()


def place_sqlite(copy: Path, target: Path) -> None:
    """Move a finished copy into place as the database at ``target`` (one rename: a restore that
    fails before it leaves the data folder empty)."""
    check_sqlite_target(target)
    conn = sqlite3.connect(copy)
    try:
        # Everything in the main file: the copy moves alone, without a write-ahead log.
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode = DELETE")
    finally:
        conn.close()
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(copy, target)


def server_major(url: str) -> int:
    with psycopg.connect(url, connect_timeout=10) as conn:
        row = conn.execute("SHOW server_version_num").fetchone()
    assert row is not None
    return int(row[0]) // 10_000


def current_schema(url: str) -> str:
    """The schema the store's connections use (``public`` unless the URL sets a search path)."""
    with psycopg.connect(url, connect_timeout=10) as conn:
        row = conn.execute("SELECT current_schema()").fetchone()
    if row is None or row[0] is None:
        raise BackupFailed("the database URL names no schema the connection can use")
    return str(row[0])


def pg_tool(tool: str, major: int) -> str:
    """``pg_dump`` or ``pg_restore`` of ``major``; :class:`BackupFailed` when none is installed."""
    debian = Path(_DEBIAN_BIN.format(major=major, tool=tool))
    if debian.exists():
        return str(debian)
    found = shutil.which(tool)
    if found is not None:
        # The tools run are PostgreSQL's own, found above; the arguments are a URL and paths.
        out = subprocess.run([found, "--version"], capture_output=True, text=True, check=False).stdout  # noqa: S603
        words = out.split()
        if words and words[-1].split(".")[0] == str(major):
            return found
    raise BackupFailed(
        f"no {tool} of PostgreSQL {major} (the server's version): install postgresql-client-{major}"
    )


def dump_postgres(url: str, target: Path) -> None:
    tool = pg_tool("pg_dump", server_major(url))
    done = subprocess.run(  # noqa: S603 (PostgreSQL's pg_dump, found by pg_tool)
        [
            tool,
            "--format=custom",
            "--no-owner",
            "--no-privileges",
            f"--schema={current_schema(url)}",
            f"--file={target}",
            f"--dbname={url}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BackupFailed(f"pg_dump failed: {done.stderr.strip()}")


def load_postgres(source: Path, url: str) -> None:
    """Restore a custom-format dump (of the store's schema) into the database at ``url``, whose
    schema must hold no table."""
    with psycopg.connect(url, connect_timeout=10) as conn:
        row = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()"
        ).fetchone()
    if row is not None and int(row[0]) > 0:
        raise BackupFailed("the database holds tables: a restore goes into an empty database")
    tool = pg_tool("pg_restore", server_major(url))
    done = subprocess.run(  # noqa: S603 (PostgreSQL's pg_restore, found by pg_tool)
        # --clean --if-exists: the dump's schema is created again (it may exist, empty).
        [tool, "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction", "--clean",
         "--if-exists", f"--dbname={url}", str(source)],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise BackupFailed(f"pg_restore failed: {done.stderr.strip()}")


def dump(settings: DatabaseSettings, target: Path) -> str:
    """Copy the database ``settings`` names to ``target``; returns its engine's name."""
    if settings.is_sqlite:
        dump_sqlite(settings.sqlite_path, target)
        return "sqlite"
    dump_postgres(settings.url, target)
    return "postgres"


def check_engine(settings: DatabaseSettings, engine: str) -> None:
    wanted = "sqlite" if settings.is_sqlite else "postgres"
    if engine != wanted:
        raise BackupFailed(f"the backup is of a {engine} database; DATABASE_URL names a {wanted} one")
