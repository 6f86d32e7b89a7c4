"""A PostgreSQL server for the tests, never a silent skip.

Where it comes from, in this order:

1. ``TEST_DATABASE_URL``: a database the tests may create schemas in;
2. the local server at ``127.0.0.1:5432`` (database ``test``, trust auth), when it answers;
3. a private cluster the suite starts itself: ``initdb`` and ``pg_ctl`` from Debian's PostgreSQL
   server binaries, run as the ``postgres`` user (``initdb`` refuses to run as root), on a free
   port in a temporary folder, stopped at the end.

Otherwise the suite fails and says how to get one (``make test`` installs Debian's ``postgresql``
package where it can). Every test gets a fresh schema of its own (``search_path``), dropped
afterwards: a run drops only what it created.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final
from urllib.parse import quote

import psycopg

LOCAL_URL: Final = "postgresql://postgres@127.0.0.1:5432/test"
_START_TIMEOUT_S: Final = 30.0


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server could be found or started; the message says how to get one."""


def _answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _as_postgres(args: list[str]) -> list[str]:
    """Run as the ``postgres`` user when we are root (``initdb`` refuses root)."""
    if os.geteuid() != 0:
        return args
    return ["runuser", "-u", "postgres", "--", *args]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def private_cluster() -> Iterator[str]:
    """Start a throwaway cluster; yields the URL of its ``postgres`` database."""
    bindir = _binaries()
    if bindir is None:
        raise PostgresUnavailable(
            "no PostgreSQL server: set TEST_DATABASE_URL, run one on 127.0.0.1:5432, or install"
            " Debian's server binaries (apt-get install postgresql; make test does it where it can)"
        )
    folder = Path(tempfile.mkdtemp(prefix="ec-pg-"))
    data = folder / "data"
    try:
        if os.geteuid() == 0:
            shutil.chown(folder, "postgres", "postgres")
        subprocess.run(
            _as_postgres(
                [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
            ),
            check=True,
            capture_output=True,
        )
        port = _free_port()
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            _as_postgres(
                [str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"), "start"]
            ),
            check=True,
            capture_output=True,
        )
        url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not _answers(url):
            if time.monotonic() > deadline:
                raise PostgresUnavailable(
                    f"the private cluster did not start: {(folder / 'log').read_text()[-2000:]}"
                )
            time.sleep(0.2)
        try:
            yield url
        finally:
            subprocess.run(
                _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                check=False,
                capture_output=True,
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def postgres_server() -> Iterator[str]:
    """The URL of a database the tests may create schemas in (see the module docstring)."""
    explicit = os.environ.get("TEST_DATABASE_URL")
    if explicit:
        if not _answers(explicit):
            raise PostgresUnavailable(f"TEST_DATABASE_URL does not answer: {explicit}")
        yield explicit
        return
    if _answers(LOCAL_URL):
        yield LOCAL_URL
        return
    with private_cluster() as url:
        yield url


def with_search_path(url: str, schema: str) -> str:
    """``url`` whose connections see ``schema`` first (libpq ``options``)."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options={quote(f'-c search_path={schema}')}"


@contextmanager
def fresh_schema(url: str) -> Iterator[str]:
    """A new, empty schema for one test; yields a URL whose connections use it; dropped after."""
    schema = f"ec_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield with_search_path(url, schema)
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
