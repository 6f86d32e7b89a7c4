"""An arq worker in its own process (``python -m cloud.workers``), for tests over a live server.

The worker runs on the server's database (``server.database``, SQLite or PostgreSQL), Redis and
queue name; extra settings come as environment variables (``OUTBOX_RELAY_TIMEOUT_S="0.3"``,
``FCM_CREDENTIALS_FILE=...``). Its output goes to a log file that tests read (``log()``,
``wait_log()``) and that a failing test shows.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cloud.embedded_redis import EmbeddedRedis, popen_child, stop_process
from tests.support.live_server import LiveServer

RELAY_INTERVAL_S = "0.1"
"""Tests relay often, so a short ``OUTBOX_RELAY_TIMEOUT_S`` takes effect quickly."""


_READY_LINE = "worker ready on queue"


class WorkerProcessError(RuntimeError):
    """The worker exited when it should run, or a log line did not appear in time."""


class WorkerProcess:
    """One ``python -m cloud.workers`` child on ``server``'s database, Redis and ``queue_name``."""

    def __init__(self, server: LiveServer, queue_name: str, log_path: Path, **env: str) -> None:
        self.server = server
        self.queue_name = queue_name
        self.log_path = log_path
        self.env = {
            **os.environ,
            "REDIS_URL": str(server.redis_url),
            "DATA_DIR": str(server.data_dir),
            "DATABASE_URL": server.database.url,
            "QUEUE_NAME": queue_name,
            "OUTBOX_RELAY_INTERVAL_S": RELAY_INTERVAL_S,
            **env,
        }
        self.stopped = True
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        """Start the process (again, after :meth:`kill` or :meth:`stop`); output is appended to the log."""
        # Start-up lines this start's wait_ready must not count (the log is appended to).
        self._ready_lines = self.log().count(_READY_LINE)
        with self.log_path.open("ab") as log:
            self.proc = popen_child(
                [sys.executable, "-m", "cloud.workers"], env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        self.stopped = False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_log(self, text: str, timeout_s: float = 20.0, count: int = 1) -> str:
        """Wait until ``text`` appears ``count`` times in the log; returns the log."""
        deadline = time.monotonic() + timeout_s
        while (out := self.log()).count(text) < count:
            if self.proc is not None and self.proc.poll() is not None:
                code = self.proc.returncode
                raise WorkerProcessError(f"worker exited ({code}) before {text!r}:\n{out[-3000:]}")
            if time.monotonic() > deadline:
                raise WorkerProcessError(f"{text!r} not seen {count}x in {timeout_s} s:\n{out[-3000:]}")
            time.sleep(0.05)
        return out

    def wait_ready(self, timeout_s: float = 20.0) -> None:
        """Wait for the worker's start-up line (migrations done, relay running)."""
        self.wait_log(_READY_LINE, timeout_s, count=self._ready_lines + 1)

    def kill(self) -> None:
        """SIGKILL, as the OOM killer or a node loss would: no shutdown hooks run."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.stopped = True

    def stop(self, check: bool = True) -> str:
        """SIGTERM, the normal stop: exit code 0 is checked unless ``check`` is false; returns the log."""
        code = 0 if self.proc is None else stop_process(self.proc, timeout_s=10)
        self.stopped = True
        output = self.log()
        if check and code != 0:
            raise WorkerProcessError(f"worker exited {code}:\n{output[-3000:]}")
        return output


@contextmanager
def private_stack(data_dir: Path, database_url: str | None = None, **server_env: str) -> Iterator[LiveServer]:
    """A Redis of its own and an API server on it, with a fresh queue name, for the ``with`` block.

    The server's database is ``database_url`` (a PostgreSQL schema), else its own SQLite file.

    Fault tests kill workers mid-job, flush Redis or kill the API: on a private Redis, the jobs
    and in-progress keys a killed process leaves behind touch no other test. Workers started with
    :class:`WorkerProcess` on the yielded server take its ``QUEUE_NAME`` from ``server.extra_env``.
    """
    env = {"QUEUE_NAME": f"test-faults-{uuid.uuid4().hex}", **server_env}
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    with (
        EmbeddedRedis(data_dir / "redis") as redis,
        LiveServer(data_dir / "api", redis.url, env=env) as server,
    ):
        yield server


@contextmanager
def worker_process(
    server: LiveServer, queue_name: str, log_path: Path, **env: str
) -> Iterator[WorkerProcess]:
    """A :class:`WorkerProcess` for the ``with`` block, stopped (or killed) at its end."""
    worker = WorkerProcess(server, queue_name, log_path, **env)
    try:
        yield worker
    finally:
        if not worker.stopped:
            worker.stop(check=False)
        if worker.proc is not None and worker.proc.poll() is None:
            worker.kill()
