"""The admin lists over HTTP: newest first, paged by ``next_cursor``, filtered; and a user's timeline.

Each test makes its own user (with an ``external_ref`` of its own) and filters by it, so the rows
other tests leave on the shared server do not matter.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import pytest

from tests.support.live_server import LiveServer

pytestmark = pytest.mark.engines("sqlite", "postgres")

PROFILE = {"currency": "BRL", "limit_cents": 100_000, "used_cents": 0, "rate_bps": 1_990}
FEATURES = {
    "months_on_book": 24,
    "on_time_payments_12m": 12,
    "missed_payments_12m": 0,
    "income_band": "medium",
}


def walk(server: LiveServer, path: str, limit: int, **params: Any) -> list[dict[str, Any]]:
    """Every item of a list, ``limit`` a page, following ``next_cursor``."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        reply = server.admin.get(path, params=query)
        assert reply.status_code == 200, reply.text
        page = reply.json()
        assert len(page["items"]) <= limit
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def offer_terms(**changes: Any) -> dict[str, Any]:
    expires = int(time.time() * 1000) + 86_400_000
    return {"new_limit_cents": 150_000, "rate_bps": 1_790, "expires_at": expires, **changes}


def test_users_devices_and_offers_page_newest_first(live_server: LiveServer) -> None:
    ref = "ref-" + secrets.token_hex(6)
    user_id = live_server.create_user(ref)
    assert [u["user_id"] for u in walk(live_server, "/v1/admin/users", 1, external_ref=ref)] == [user_id]

    enrolled = [live_server.enroll(live_server.enrollment_code(user_id)).device_id for _ in range(3)]
    devices = walk(live_server, "/v1/admin/devices", 1, user_id=user_id)
    assert sorted(d["device_id"] for d in devices) == sorted(enrolled)
    keys = [(d["created_at"], d["device_id"]) for d in devices]
    assert keys == sorted(keys, reverse=True)
    assert live_server.admin.post(f"/v1/admin/devices/{enrolled[0]}/revoke").status_code == 200
    revoked = walk(live_server, "/v1/admin/devices", 10, user_id=user_id, revoked="true")
    assert [d["device_id"] for d in revoked] == [enrolled[0]]
    assert walk(live_server, "/v1/admin/devices", 10, user_id=user_id, platform="ios") == []

    assert live_server.admin.post(f"/v1/admin/users/{user_id}/profile", json=PROFILE).status_code == 200
    first = live_server.admin.post(f"/v1/admin/users/{user_id}/offers", json=offer_terms()).json()
    withdrawn = live_server.admin.post(f"/v1/admin/offers/{first['offer']['offer_id']}/withdraw", json={})
    assert withdrawn.status_code == 200
    second = live_server.admin.post(
        f"/v1/admin/users/{user_id}/offers", json=offer_terms(rate_bps=1_700)
    ).json()
    offers = walk(live_server, "/v1/admin/offers", 1, user_id=user_id)
    assert [o["offer"]["offer_id"] for o in offers] == [
        second["offer"]["offer_id"],
        first["offer"]["offer_id"],
    ]
    open_ = walk(live_server, "/v1/admin/offers", 10, user_id=user_id, status="offered")
    assert [o["offer"]["offer_id"] for o in open_] == [second["offer"]["offer_id"]]
    # Every user's open offers: this user's is on it.
    everyone = walk(live_server, "/v1/admin/offers", 500, status="offered")
    assert second["offer"]["offer_id"] in {o["offer"]["offer_id"] for o in everyone}
    assert all(o["offer"]["status"] == "offered" for o in everyone)


def test_evaluations_outbox_rows_and_the_timeline(live_server: LiveServer) -> None:
    user_id = live_server.create_user("ref-" + secrets.token_hex(6))
    tokens = live_server.enroll(live_server.enrollment_code(user_id))
    live_server.add_notice(user_id, title="private words", kind="reminder")
    assert live_server.admin.post(f"/v1/admin/users/{user_id}/profile", json=PROFILE).status_code == 200
    features = live_server.admin.put(f"/v1/admin/users/{user_id}/credit-features", json=FEATURES)
    assert features.status_code == 200
    queued = live_server.admin.post(f"/v1/admin/users/{user_id}/evaluate")
    assert queued.status_code == 202
    evaluation_id = queued.json()["evaluation_id"]

    evaluations = walk(live_server, "/v1/admin/evaluations", 5, user_id=user_id)
    assert [e["evaluation_id"] for e in evaluations] == [evaluation_id]
    # No worker runs here: the evaluation stays pending, its outbox row too.
    assert walk(live_server, "/v1/admin/evaluations", 5, user_id=user_id, status="done") == []
    rows = walk(live_server, "/v1/admin/outbox/rows", 500, kind="evaluate_credit", state="pending")
    mine = [r for r in rows if r["payload"].get("evaluation_id") == evaluation_id]
    assert len(mine) == 1 and mine[0]["state"] == "pending"
    ids = [r["outbox_id"] for r in rows]
    assert ids == sorted(ids, reverse=True)

    timeline = walk(live_server, f"/v1/admin/users/{user_id}/timeline", 2)
    kinds = {e["kind"] for e in timeline}
    assert {"device_enrolled", "device_seen", "notice", "evaluation", "audit"} <= kinds
    assert ("device_enrolled", tokens.device_id) in {(e["kind"], e["ref"]) for e in timeline}
    assert ("evaluation", evaluation_id) in {(e["kind"], e["ref"]) for e in timeline}
    assert not any("private words" in e["summary"] for e in timeline)
    keys = [(e["at"], e["kind"], e["ref"]) for e in timeline]
    assert keys == sorted(keys, reverse=True)
    assert walk(live_server, f"/v1/admin/users/{user_id}/timeline", 500) == timeline
