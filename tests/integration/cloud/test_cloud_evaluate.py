"""Credit evaluation endpoints over a real server: features, the evaluate request, reading it back,
and every refusal (problem+json, nothing written). No worker runs here: the evaluation stays
pending; ``tests/integration/workers/test_workers_evaluate.py`` runs the job."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec
import pytest

from cloud.outbox.kinds import EVALUATE_CREDIT
from cloud.store import Store
from cloud.store.errors import UserNotFound
from sync.limits import MAX_NESTING_DEPTH
from tests.support.live_server import LiveServer
from tests.unit.sync.test_depth import nested_json

PROFILE = {"currency": "EUR", "limit_cents": 100_000, "used_cents": 25_000, "rate_bps": 1_990}
FEATURES = {
    "months_on_book": 30,
    "on_time_payments_12m": 11,
    "missed_payments_12m": 1,
    "income_band": "medium",
}


def admin(server: LiveServer, method: str, path: str, expected: int, **kwargs: Any) -> Any:
    response = server.admin.request(method, path, **kwargs)
    assert response.status_code == expected, response.text
    return response.json()


def assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code


async def _snapshot(store: Store, user_id: str) -> tuple[list[Any], ...]:
    evaluations = await store.list_evaluations(user_id)
    features = await store.get_credit_features(user_id)
    ids = {e.evaluation_id for e in evaluations}
    outbox = [
        row
        for row in await store.list_outbox()
        if row.kind == EVALUATE_CREDIT and msgspec.json.decode(row.payload).get("evaluation_id") in ids
    ]
    try:
        offers = await store.list_offers(user_id)
    except UserNotFound:
        offers = []
    return evaluations, [] if features is None else [features], outbox, offers


def snapshot(server: LiveServer, user_id: str) -> tuple[list[Any], ...]:
    """Everything an evaluation request or a features update could write for the user, read
    through the store: evaluations, credit features, ``evaluate_credit`` outbox rows, offers."""
    return server.read(lambda store: _snapshot(store, user_id))


def ready_user(server: LiveServer) -> str:
    user_id = server.create_user()
    admin(server, "POST", f"/v1/admin/users/{user_id}/profile", 200, json=PROFILE)
    out = admin(server, "PUT", f"/v1/admin/users/{user_id}/credit-features", 200, json=FEATURES)
    assert {k: out[k] for k in FEATURES} == FEATURES and out["user_id"] == user_id
    return user_id


def test_evaluate_is_queued_and_readable(live_server: LiveServer) -> None:
    user_id = ready_user(live_server)
    queued = admin(live_server, "POST", f"/v1/admin/users/{user_id}/evaluate", 202)
    assert set(queued) == {"evaluation_id", "job_id"}
    evaluation = admin(live_server, "GET", f"/v1/admin/evaluations/{queued['evaluation_id']}", 200)
    assert (evaluation["user_id"], evaluation["status"], evaluation["trigger"]) == (
        user_id,
        "pending",
        "admin",
    )
    assert (evaluation["result"], evaluation["offer_id"]) == (None, None)
    evaluations, _, outbox, _ = snapshot(live_server, user_id)
    assert len(evaluations) == 1
    [row] = outbox
    assert queued["job_id"] == f"{row.outbox_id}:0"


def test_features_are_replaced(live_server: LiveServer) -> None:
    user_id = ready_user(live_server)
    changed = {**FEATURES, "missed_payments_12m": 0, "income_band": "very_high"}
    admin(live_server, "PUT", f"/v1/admin/users/{user_id}/credit-features", 200, json=changed)
    [row] = snapshot(live_server, user_id)[1]
    assert (row.months_on_book, row.on_time_payments_12m, row.missed_payments_12m, row.income_band) == (
        30,
        11,
        0,
        "very_high",
    )


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({**FEATURES, "months_on_book": -1}, "validation_failed"),
        ({**FEATURES, "months_on_book": 1201}, "validation_failed"),
        ({**FEATURES, "months_on_book": 30.0}, "validation_failed"),
        ({**FEATURES, "on_time_payments_12m": 13}, "validation_failed"),
        ({**FEATURES, "missed_payments_12m": "1"}, "validation_failed"),
        ({**FEATURES, "on_time_payments_12m": 12, "missed_payments_12m": 1}, "validation_failed"),
        ({**FEATURES, "months_on_book": 5}, "validation_failed"),  # 12 payments in 5 months
        ({**FEATURES, "income_band": "huge"}, "validation_failed"),
        ({**FEATURES, "utilisation_bps": 100}, "validation_failed"),  # from the profile, not settable
        ({k: v for k, v in FEATURES.items() if k != "income_band"}, "validation_failed"),
        ([], "validation_failed"),
    ],
)
def test_bad_features_are_refused_and_change_nothing(live_server: LiveServer, body: Any, code: str) -> None:
    user_id = ready_user(live_server)
    before = snapshot(live_server, user_id)
    response = live_server.admin.put(f"/v1/admin/users/{user_id}/credit-features", json=body)
    assert_problem(response, 400, code)
    assert snapshot(live_server, user_id) == before


@pytest.mark.parametrize(
    "content",
    [
        b"{nope",
        # Nested far past the limit (this answered 500), and one level past it.
        b'{"zz":' + nested_json(1000) + b"}",
        b'{"zz":' + nested_json(MAX_NESTING_DEPTH) + b"}",
    ],
    ids=["not-json", "deep", "one-over"],
)
def test_features_body_that_is_not_json_or_too_deep(live_server: LiveServer, content: bytes) -> None:
    user_id = ready_user(live_server)
    before = snapshot(live_server, user_id)
    url = f"/v1/admin/users/{user_id}/credit-features"
    assert_problem(live_server.admin.put(url, content=content), 400, "invalid_body")
    assert snapshot(live_server, user_id) == before


def test_features_of_unknown_user(live_server: LiveServer) -> None:
    response = live_server.admin.put("/v1/admin/users/usr_missing/credit-features", json=FEATURES)
    assert_problem(response, 404, "not_found")
    assert snapshot(live_server, "usr_missing") == ([], [], [], [])


def test_evaluate_refusals_write_nothing(live_server: LiveServer) -> None:
    assert_problem(live_server.admin.post("/v1/admin/users/usr_missing/evaluate"), 404, "not_found")
    assert snapshot(live_server, "usr_missing") == ([], [], [], [])

    user_id = live_server.create_user()
    url = f"/v1/admin/users/{user_id}/evaluate"
    assert_problem(live_server.admin.post(url), 400, "validation_failed")  # no profile
    admin(live_server, "POST", f"/v1/admin/users/{user_id}/profile", 200, json=PROFILE)
    response = live_server.admin.post(url)
    assert_problem(response, 400, "validation_failed")  # no credit features
    assert "credit features" in response.json()["title"]
    assert snapshot(live_server, user_id) == ([], [], [], [])

    admin(live_server, "PUT", f"/v1/admin/users/{user_id}/credit-features", 200, json=FEATURES)
    terms = {
        "new_limit_cents": 150_000,
        "rate_bps": 1_790,
        "term_months": 12,
        "expires_at": 4_000_000_000_000,
        "reason_codes": [],
        "policy_version": "manual",
    }
    offer = admin(live_server, "POST", f"/v1/admin/users/{user_id}/offers", 201, json=terms)
    before = snapshot(live_server, user_id)
    assert_problem(live_server.admin.post(url), 409, "offer_in_flight")
    assert snapshot(live_server, user_id) == before
    # Once the offer is withdrawn, the user can be evaluated again.
    admin(live_server, "POST", f"/v1/admin/offers/{offer['offer']['offer_id']}/withdraw", 200, json={})
    admin(live_server, "POST", url, 202)


def test_unknown_evaluation(live_server: LiveServer) -> None:
    assert_problem(live_server.admin.get("/v1/admin/evaluations/eval_missing"), 404, "not_found")


def test_credit_endpoints_need_the_admin_token(live_server: LiveServer) -> None:
    user_id = ready_user(live_server)
    before = snapshot(live_server, user_id)
    for method, path in [
        ("PUT", f"/v1/admin/users/{user_id}/credit-features"),
        ("POST", f"/v1/admin/users/{user_id}/evaluate"),
        ("GET", "/v1/admin/evaluations/eval_x"),
    ]:
        response = httpx.request(method, f"{live_server.base_url}{path}", json=FEATURES)
        assert_problem(response, 401, "admin_unauthorized")
    assert snapshot(live_server, user_id) == before


def test_an_erased_user_is_410_and_nothing_is_written(live_server: LiveServer) -> None:
    user_id = ready_user(live_server)
    admin(live_server, "POST", f"/v1/admin/users/{user_id}/erase", 200)
    before = snapshot(live_server, user_id)
    for method, path, body in (
        ("PUT", "credit-features", FEATURES),
        ("POST", "evaluate", None),
    ):
        refused = live_server.admin.request(method, f"/v1/admin/users/{user_id}/{path}", json=body)
        assert (refused.status_code, refused.json()["code"]) == (410, "user_erased"), refused.text
    assert snapshot(live_server, user_id) == before
    # The erasure deleted the credit features.
    assert before[1] == []
