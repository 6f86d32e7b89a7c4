"""Outbox and queue endpoints under ``/v1/admin`` (admin bearer token, problem+json errors).

- ``GET /v1/admin/outbox``: row counts by (kind, state), the oldest pending row's age, the arq
  queue depth.
- ``GET /v1/admin/outbox/dead[?limit=1..500&after_id=N]``: dead-letter rows, by id, paged.
- ``POST /v1/admin/outbox/{outbox_id}/retry``: a dead row back to ``pending`` for a new round
  of attempts, enqueued after the commit.
"""

from __future__ import annotations

import re
from typing import Any, Final

from litestar import Controller, Request, get, post

from cloud.constants import ADMIN_PREFIX
from cloud.domain.admin.controllers import admin_guard
from cloud.domain.admin.schemas import DeadLettersOut, OutboxRetryOut, OutboxStatsOut
from cloud.domain.offers.operations import DEFAULT_DEAD_LETTER_PAGE, MAX_DEAD_LETTER_PAGE, OutboxOperations
from cloud.errors import ValidationFailed

_UINT: Final = re.compile(r"^\d{1,18}$")


def _uint(value: str | None, name: str, default: int, low: int, high: int) -> int:
    """A query or path integer in ``[low, high]``; anything else is ``validation_failed``."""
    if value is None:
        return default
    if not _UINT.match(value) or not low <= int(value) <= high:
        raise ValidationFailed(f"`{name}` must be an integer {low}..{high}, got {value[:40]!r}")
    return int(value)


def _operations(request: Request[Any, Any, Any]) -> OutboxOperations:
    operations: OutboxOperations = request.app.state.outbox_operations
    return operations


class OutboxController(Controller):
    path = f"{ADMIN_PREFIX}/outbox"
    guards = [admin_guard]
    tags = ["admin", "outbox"]

    @get("/")
    async def stats(self, request: Request[Any, Any, Any]) -> OutboxStatsOut:
        """Outbox rows by (kind, state), the oldest pending row's age and the queue depth."""
        return await _operations(request).stats()

    @get("/dead")
    async def dead_letters(self, request: Request[Any, Any, Any]) -> DeadLettersOut:
        """Dead-letter rows in id order; page with ``limit`` (1..500, default 100) and ``after_id``."""
        query = request.query_params
        limit = _uint(query.get("limit"), "limit", DEFAULT_DEAD_LETTER_PAGE, 1, MAX_DEAD_LETTER_PAGE)
        after_id = _uint(query.get("after_id"), "after_id", 0, 0, 2**63 - 1)
        return await _operations(request).dead_letters(limit=limit, after_id=after_id)

    @post("/{outbox_id:str}/retry", status_code=200)
    async def retry(self, request: Request[Any, Any, Any]) -> OutboxRetryOut:
        """Send a dead row back for a new round of attempts (409 if it is not dead, or if it is an
        ``apply_offer`` row whose offer is no longer ``accepted``)."""
        outbox_id = _uint(str(request.path_params["outbox_id"]), "outbox_id", 0, 1, 2**63 - 1)
        return await _operations(request).retry(outbox_id)
