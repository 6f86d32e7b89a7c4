"""Password hashing: argon2id (argon2-cffi) on a small thread pool of its own.

Each hash takes :data:`MEMORY_KIB` of memory and a few tens of milliseconds of CPU, so at most
:data:`WORKERS` run at once and at most :data:`QUEUED` more wait; beyond that a login is answered
``503`` at once. Logins reach this only after the per-address rate limit (``RATE_LIMIT_LOGIN``),
so a flood of logins can exhaust neither CPU nor memory.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from cloud.errors import Unavailable

TIME_COST: Final = 2
MEMORY_KIB: Final = 19 * 1024
PARALLELISM: Final = 1
"""OWASP's argon2id configuration (19 MiB, 2 passes, 1 lane)."""
WORKERS: Final = 2
QUEUED: Final = 16


class Passwords:
    """Hash and verify passwords off the event loop, bounded."""

    def __init__(self) -> None:
        self._hasher = PasswordHasher(time_cost=TIME_COST, memory_cost=MEMORY_KIB, parallelism=PARALLELISM)
        self._executor = ThreadPoolExecutor(WORKERS, thread_name_prefix="argon2")
        self._waiting = 0
        self._dummy: str | None = None

    async def _run(self, fn: object, *args: str) -> object:
        if self._waiting >= WORKERS + QUEUED:
            raise Unavailable("too many logins at once; retry shortly", retry_after_s=1)
        self._waiting += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)  # type: ignore[arg-type]
        finally:
            self._waiting -= 1

    async def hash(self, password: str) -> str:
        digest = await self._run(self._hasher.hash, password)
        assert isinstance(digest, str)
        return digest

    async def verify(self, password_hash: str, password: str) -> bool:
        """Whether ``password`` matches; ``False`` for a mismatch or a hash that cannot be read."""
        try:
            return bool(await self._run(self._hasher.verify, password_hash, password))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def verify_nobody(self, password: str) -> None:
        """Spend what a verification spends, for a name with no account: its answer then takes as
        long as a wrong password's, and tells nothing about whether the account exists."""
        if self._dummy is None:
            self._dummy = await self.hash("no account has this password")
        await self.verify(self._dummy, password)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
