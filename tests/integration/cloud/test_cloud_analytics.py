"""The analytics admin endpoints over the live server: aggregates pushed through /v1/sync come back
as a debiased population distribution and a per-user stress posterior; bad input is refused."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sync.messages import FieldMechanism, Levels, Mechanism, SubmitAggregate
from tests.support.consent import grant_share_aggregates_over_http
from tests.support.live_server import LiveServer, sync_ok

# Days no other test uses, so the population answer counts only this module's reports.
DAY = "2031-07-15"


def _aggregate(seq: int, day: str, stress: int, epsilon: float = 0.5) -> SubmitAggregate:
    other = FieldMechanism(k=3, epsilon=0.25)
    return SubmitAggregate(
        seq=seq,
        created_at=1_700_000_000_000,
        day=day,
        tz_offset_min=0,
        window_bucket=2,
        levels=Levels(stress=stress, valence=0, arousal=1),
        mechanism=Mechanism(stress=FieldMechanism(k=3, epsilon=epsilon), valence=other, arousal=other),
        model_version="m1",
    )


def _problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code


def test_population_and_user_stress(live_server: LiveServer) -> None:
    users = []
    for i, stress in enumerate([2, 2, 1, 0, 2, 0]):
        user_id = live_server.create_user()
        tokens = live_server.new_device(user_id)
        grant_share_aggregates_over_http(live_server, user_id)
        # The first user also reports the previous days, which only the 7-day window sees.
        previous = [_aggregate(1 + d, f"2031-07-{10 + d:02d}", 2) for d in range(3)] if i == 0 else []
        mutations = [*previous, _aggregate(len(previous) + 1, DAY, stress, epsilon=0.5 if i % 2 else 1.0)]
        reply = sync_ok(live_server, tokens, mutations)
        assert [r.status for r in reply.results] == ["applied"] * len(mutations)
        users.append(user_id)

    population = live_server.admin.get("/v1/admin/analytics/stress", params={"day": DAY})
    assert population.status_code == 200, population.text
    body: dict[str, Any] = population.json()
    assert (body["first_day"], body["last_day"], body["n"], body["skipped"]) == (DAY, DAY, 6, 0)
    [dist] = body["distributions"]
    assert dist["k"] == 3 and {(g["epsilon"], g["n"]) for g in dist["groups"]} == {(0.5, 3), (1.0, 3)}
    assert sum(level["estimate"] for level in dist["levels"]) == pytest.approx(1.0)
    for level in dist["levels"]:
        assert level["lower"] <= level["estimate"] <= level["upper"]
        assert 0.0 <= level["shown_lower"] <= level["shown"] <= level["shown_upper"] <= 1.0
    window = live_server.admin.get("/v1/admin/analytics/stress", params={"day": DAY, "window_days": 7})
    assert window.status_code == 200 and window.json()["n"] == 9
    assert window.json()["first_day"] == "2031-07-09"

    first = live_server.admin.get(f"/v1/admin/users/{users[0]}/stress", params={"as_of": DAY}).json()
    assert (first["as_of_day"], first["window_days"]) == (DAY, 7)
    estimate = first["estimate"]
    assert (estimate["n_days"], estimate["recent_day"], estimate["credible_mass"]) == (4, DAY, 0.9)
    assert 0.0 <= estimate["lower"] < estimate["posterior_mean"] < estimate["upper"] <= 1.0
    # Four high reports against a low report: the first user's posterior is the higher one.
    low = live_server.admin.get(f"/v1/admin/users/{users[3]}/stress", params={"as_of": DAY}).json()
    assert low["estimate"]["n_days"] == 1
    assert estimate["posterior_mean"] > low["estimate"]["posterior_mean"]
    # No report in the window (today is years before DAY): no signal.
    today = live_server.admin.get(f"/v1/admin/users/{users[0]}/stress").json()
    assert today["estimate"] is None and today["as_of_day"] < DAY


def test_empty_day_has_no_distribution(live_server: LiveServer) -> None:
    response = live_server.admin.get("/v1/admin/analytics/stress", params={"day": "2032-01-01"})
    assert response.status_code == 200
    assert (response.json()["n"], response.json()["distributions"]) == (0, [])


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"day": "2031-7-15"},
        {"day": "20310715"},
        {"day": "2031-02-30"},
        {"day": DAY, "window_days": "0"},
        {"day": DAY, "window_days": "91"},
        {"day": DAY, "window_days": "seven"},
    ],
)
def test_bad_population_query_is_400(live_server: LiveServer, params: dict[str, str]) -> None:
    _problem(live_server.admin.get("/v1/admin/analytics/stress", params=params), 400, "validation_failed")


def test_bad_user_queries(live_server: LiveServer) -> None:
    _problem(live_server.admin.get("/v1/admin/users/usr_nobody/stress"), 404, "not_found")
    user_id = live_server.create_user()
    response = live_server.admin.get(f"/v1/admin/users/{user_id}/stress", params={"as_of": "yesterday"})
    _problem(response, 400, "validation_failed")


@pytest.mark.parametrize(
    "path", ["/v1/admin/analytics/stress?day=2031-07-15", "/v1/admin/users/usr_x/stress"]
)
def test_analytics_needs_the_admin_token(live_server: LiveServer, path: str) -> None:
    response = httpx.get(f"{live_server.base_url}{path}", headers={"Authorization": "Bearer wrong"})
    _problem(response, 401, "admin_unauthorized")
