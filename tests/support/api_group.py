"""Several API processes on one database, Redis and queue, behind a round-robin balancer: the
scale-out shape of ``docs/operations.md`` for tests.

Each process is a :class:`LiveServer` with a data folder of its own (``api-1``, ``api-2``, …) and
the same ``DATABASE_URL``; the group's ``base_url`` is the balancer's, so clients never pick a
process. ``kill(index)`` is ``kill -9`` of one of them; the others go on serving.

Usage::

    with ApiGroup(tmp_path, redis_url, 2, env={"DATABASE_URL": url}) as group:
        user_id = group.create_user()          # through the balancer
        group.kill(0); group.start()           # one process crashes and comes back
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Self, TypeVar

from cloud.store import Store
from tests.support.balancer import RoundRobinBalancer
from tests.support.live_server import AdminShortcuts, LiveServer

T = TypeVar("T")


class ApiGroup(AdminShortcuts):
    """``count`` API processes on one database behind a :class:`RoundRobinBalancer`."""

    def __init__(self, data_dir: Path, redis_url: str, count: int, env: dict[str, str]) -> None:
        if "DATABASE_URL" not in env:
            # Each process would otherwise open a SQLite file of its own data folder.
            raise ValueError("an API group needs one DATABASE_URL for all its processes")
        self.servers = [LiveServer(Path(data_dir) / f"api-{i + 1}", redis_url, env=env) for i in range(count)]
        self.admin_token = self.servers[0].admin_token
        self.balancer = RoundRobinBalancer([server.base_url for server in self.servers])
        self._admin = None

    @property
    def base_url(self) -> str:
        return self.balancer.url

    @property
    def running(self) -> bool:
        """Every process of the group is up."""
        return all(server.running for server in self.servers)

    def start(self) -> None:
        """Start every process that is not running (all of them at first)."""
        for server in self.servers:
            if not server.running:
                server.start()

    def kill(self, index: int | None = None) -> None:
        """``kill -9`` process ``index``, or every process when ``None``."""
        for i, server in enumerate(self.servers):
            if index is None or i == index:
                server.kill()

    def read(self, call: Callable[[Store], Awaitable[T]]) -> T:
        return self.servers[0].read(call)

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(f"[api-{i + 1}]\n{server.log_tail(lines)}" for i, server in enumerate(self.servers))

    def close(self) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        for server in self.servers:
            server.close()
        self.balancer.close()

    def __enter__(self) -> Self:
        self.balancer.start()
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
