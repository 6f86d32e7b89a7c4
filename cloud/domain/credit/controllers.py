"""Credit evaluation admin endpoints under ``/v1/admin`` (admin bearer token, problem+json).

- ``PUT /users/{user_id}/credit-features``: the user's scorecard inputs (strict body).
- ``POST /users/{user_id}/evaluate``: ``202 {"evaluation_id", "job_id"}``; the job runs in a worker.
- ``GET /evaluations/{evaluation_id}``: the evaluation's status and result.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post, put

from cloud.constants import ADMIN_PREFIX
from cloud.domain.admin.controllers import admin_guard
from cloud.domain.credit.schemas import CreditFeaturesOut, EvaluationOut, EvaluationQueued, SetCreditFeatures
from cloud.domain.credit.services import EvaluationService
from cloud.wire import decode_json_body


def _credit(request: Request[Any, Any, Any]) -> EvaluationService:
    service: EvaluationService = request.app.state.credit
    return service


def _path(request: Request[Any, Any, Any], name: str) -> str:
    return str(request.path_params[name])


async def _strict_body(request: Request[Any, Any, Any]) -> SetCreditFeatures:
    # Decoded by msgspec directly: Litestar's conversion would accept 12.0 as 12.
    return decode_json_body(await request.body(), SetCreditFeatures)


class CreditController(Controller):
    path = ADMIN_PREFIX
    guards = [admin_guard]
    tags = ["admin", "credit"]

    @put("/users/{user_id:str}/credit-features", status_code=200)
    async def set_features(self, request: Request[Any, Any, Any]) -> CreditFeaturesOut:
        """Create or replace the user's credit features.

        Body: :class:`~cloud.domain.credit.schemas.SetCreditFeatures`."""
        data = await _strict_body(request)
        return await _credit(request).set_features(_path(request, "user_id"), data)

    @post("/users/{user_id:str}/evaluate", status_code=202)
    async def evaluate(self, request: Request[Any, Any, Any]) -> EvaluationQueued:
        """Queue a credit evaluation of the user; read its result at ``/evaluations/{id}``."""
        return await _credit(request).request(_path(request, "user_id"))

    @get("/evaluations/{evaluation_id:str}")
    async def evaluation(self, request: Request[Any, Any, Any]) -> EvaluationOut:
        return await _credit(request).get(_path(request, "evaluation_id"))
