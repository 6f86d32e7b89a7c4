"""A user's data export over HTTP on both engines: one document with everything held about the
user and nothing of anyone else's, each export in the auth audit, refused to a viewer."""

from __future__ import annotations

import time

import httpx
import pytest

from cloud.domain.admin.schemas import UserExport
from sync.codes import ErrorCode
from sync.messages import RequestReview
from tests.support.consent import grant_share_aggregates_over_http
from tests.support.live_server import LiveServer, sample_aggregate, sync_ok

pytestmark = pytest.mark.engines("sqlite", "postgres")

PROFILE = {"currency": "EUR", "limit_cents": 100_000, "used_cents": 25_000, "rate_bps": 1_990}


def test_the_export_holds_everything_about_the_user_and_is_audited(live_server: LiveServer) -> None:
    user_id = live_server.create_user(f"ref-{time.time_ns()}")
    tokens = grant_share_aggregates_over_http(live_server, user_id)
    sync_ok(live_server, tokens, [sample_aggregate(2, day="2024-03-01")])
    live_server.add_notice(user_id, title="welcome", body="hello there")
    assert live_server.admin.post(f"/v1/admin/users/{user_id}/profile", json=PROFILE).status_code == 200
    terms = {
        "new_limit_cents": 150_000,
        "rate_bps": 1_790,
        "expires_at": int(time.time() * 1000) + 86_400_000,
    }
    offer = live_server.admin.post(f"/v1/admin/users/{user_id}/offers", json=terms)
    assert offer.status_code == 201
    offer_id = offer.json()["offer"]["offer_id"]
    sync_ok(live_server, tokens, [RequestReview(seq=3, created_at=1, offer_id=offer_id, note="please check")])
    other = live_server.create_user()
    grant_share_aggregates_over_http(live_server, other)

    reply = live_server.admin.get(f"/v1/admin/users/{user_id}/export")
    assert reply.status_code == 200, reply.text
    document = reply.json()
    assert list(document) == [name for name in UserExport.__struct_fields__]
    assert document["schema_version"] == 1 and document["user"]["user_id"] == user_id
    assert document["user"]["external_ref"].startswith("ref-")
    assert [d["device_id"] for d in document["devices"]] == [tokens.device_id]
    assert document["consent"]["share_aggregates"] is True
    assert [a["day"] for a in document["aggregates"]] == ["2024-03-01"]
    assert [n["body"] for n in document["notices"]] == ["hello there"]
    assert document["profile"]["limit_cents"] == 100_000
    assert [o["offer_id"] for o in document["offers"]] == [offer.json()["offer"]["offer_id"]]
    assert [(a["reason_code"], a["actor"]) for a in document["audit"]] == [
        ("profile_set", "admin"),
        ("offer_created", "admin"),
    ]
    assert document["evaluations"] == [] and document["credit_features"] is None
    assert [(r["offer_id"], r["note"], r["status"]) for r in document["reviews"]] == [
        (offer_id, "please check", "open")
    ]
    assert other not in reply.text  # nothing of another user

    events = live_server.admin.get("/v1/admin/auth-audit?limit=20").json()["items"]
    exported = [e for e in events if e["event"] == "user_exported" and e["detail"] == f"user={user_id}"]
    assert len(exported) == 1 and exported[0]["actor"] == "admin"


def test_a_viewer_may_not_export(live_server: LiveServer) -> None:
    name = f"viewer{time.time_ns() % 10**9}"
    live_server.create_operator(name, "viewer")
    token = live_server.login(name)
    user_id = live_server.create_user()
    refused = httpx.get(
        f"{live_server.base_url}/v1/admin/users/{user_id}/export",
        headers={"authorization": f"Bearer {token}"},
    )
    assert refused.status_code == 403 and refused.json()["code"] == ErrorCode.ROLE_FORBIDDEN
