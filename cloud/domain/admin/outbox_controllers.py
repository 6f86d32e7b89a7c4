"""Outbox and queue endpoints under ``/v1/admin`` (admin bearer token, problem+json errors).

- ``GET /v1/admin/outbox``: row counts by (kind, state), the oldest pending row's age, the arq
  queue depth.
- ``GET /v1/admin/outbox/dead[?limit=1..500&after_id=N]``: dead-letter rows, by id, paged.
- ``POST /v1/admin/outbox/{outbox_id}/retry``: a dead row back to ``pending`` for a new round
  of attempts, enqueued after the commit.
"""

from __future__ import annotations

from typing import Annotated, Final

from litestar import Controller, get, post
from litestar.params import PathParameter, QueryParameter

from cloud.api_docs import problems
from cloud.constants import ADMIN_PREFIX
from cloud.deps import ADMIN_SECURITY, OutboxDep, admin_guard
from cloud.domain.admin.schemas import DeadLettersOut, OutboxRetryOut, OutboxStatsOut
from cloud.domain.offers.operations import DEFAULT_DEAD_LETTER_PAGE, MAX_DEAD_LETTER_PAGE

MAX_ID: Final = 2**53
"""The largest id the API takes: exact as a JSON number in every client (the document's bounds are
floats), far beyond any outbox's ids."""


class OutboxController(Controller):
    path = f"{ADMIN_PREFIX}/outbox"
    guards = [admin_guard]
    security = ADMIN_SECURITY
    tags = ["admin", "outbox"]

    @get("/")
    async def stats(self, outbox: OutboxDep) -> OutboxStatsOut:
        """Outbox rows by (kind, state), the oldest pending row's age and the queue depth."""
        return await outbox.stats()

    @get("/dead")
    async def dead_letters(
        self,
        outbox: OutboxDep,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_DEAD_LETTER_PAGE)] = DEFAULT_DEAD_LETTER_PAGE,
        after_id: Annotated[int, QueryParameter(ge=0, le=MAX_ID, description="Rows after this id")] = 0,
    ) -> DeadLettersOut:
        """Dead-letter rows in id order; ``next_after_id`` pages on."""
        return await outbox.dead_letters(limit=limit, after_id=after_id)

    @post("/{outbox_id:str}/retry", status_code=200, responses=problems(409))
    async def retry(
        self,
        outbox_id: Annotated[int, PathParameter(ge=1, le=MAX_ID)],
        outbox: OutboxDep,
    ) -> OutboxRetryOut:
        """Send a dead row back for a new round of attempts (409 if it is not dead, or if it is an
        ``apply_offer`` row whose offer is no longer ``accepted``)."""
        return await outbox.retry(outbox_id)
