"""Credit evaluation admin endpoints under ``/v1/admin`` (admin bearer token, problem+json).

- ``PUT /users/{user_id}/credit-features``: the user's scorecard inputs (strict body).
- ``POST /users/{user_id}/evaluate``: ``202 {"evaluation_id", "job_id"}``; the job runs in a worker.
- ``GET /evaluations/{evaluation_id}``: the evaluation's status and result.
"""

from __future__ import annotations

from litestar import Controller, get, post, put
from litestar.params import FromPath, JSONBody

from cloud.api_docs import problems
from cloud.constants import ADMIN_PREFIX
from cloud.deps import ADMIN_SECURITY, CreditDep, StrictBody, admin_guard
from cloud.domain.credit.schemas import CreditFeaturesOut, EvaluationOut, EvaluationQueued, SetCreditFeatures


class CreditController(Controller):
    path = ADMIN_PREFIX
    guards = [admin_guard]
    security = ADMIN_SECURITY
    tags = ["admin", "credit"]
    return_dto = None

    @put("/users/{user_id:str}/credit-features", status_code=200, dto=StrictBody[SetCreditFeatures])
    async def set_features(
        self,
        user_id: FromPath[str],
        credit: CreditDep,
        data: JSONBody[SetCreditFeatures],
    ) -> CreditFeaturesOut:
        """Create or replace the user's credit features (the scorecard's inputs)."""
        return await credit.set_features(user_id, data)

    @post("/users/{user_id:str}/evaluate", status_code=202, responses=problems(409))
    async def evaluate(self, user_id: FromPath[str], credit: CreditDep) -> EvaluationQueued:
        """Queue a credit evaluation of the user; read its result at ``/evaluations/{id}``."""
        return await credit.request(user_id)

    @get("/evaluations/{evaluation_id:str}")
    async def evaluation(self, evaluation_id: FromPath[str], credit: CreditDep) -> EvaluationOut:
        """The evaluation's status and, once done, its result."""
        return await credit.get(evaluation_id)
