"""Offers over a real server: admin profile and offer endpoints, devices accepting and declining
through ``/v1/sync``, the audit trail and the outbox row, and every bad admin input. Runs on SQLite
and on PostgreSQL."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from sync.codec import MediaType, decode_reply
from sync.messages import AcceptOffer, DeclineOffer, OfferStatus, OfferUpsert, ProfileUpdate, TokenPair
from tests.support.live_server import LiveServer, post_sync, sync_body, sync_ok

pytestmark = pytest.mark.engines("sqlite", "postgres")

PROFILE = {"currency": "EUR", "limit_cents": 100_000, "used_cents": 25_000, "rate_bps": 1_990}


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def offer_terms(expires_in_ms: int = 14 * 86_400_000, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "new_limit_cents": 150_000,
        "rate_bps": 1_790,
        "term_months": 12,
        "expires_at": now_ms() + expires_in_ms,
        "reason_codes": ["RISK_BAND_B"],
        "policy_version": "scorecard-test",
    }
    body.update(overrides)
    return body


def admin(server: LiveServer, method: str, path: str, expected: int, **kwargs: Any) -> Any:
    response = server.admin.request(method, path, **kwargs)
    assert response.status_code == expected, response.text
    return response.json()


def with_offer(server: LiveServer, expires_in_ms: int = 14 * 86_400_000) -> tuple[TokenPair, str]:
    tokens = server.new_device()
    admin(server, "POST", f"/v1/admin/users/{tokens.user_id}/profile", 200, json=PROFILE)
    created = admin(
        server, "POST", f"/v1/admin/users/{tokens.user_id}/offers", 201, json=offer_terms(expires_in_ms)
    )
    offer_id: str = created["offer"]["offer_id"]
    return tokens, offer_id


def outbox_rows(server: LiveServer) -> list[tuple[str, bytes, str]]:
    return [(r.kind, r.payload, r.state) for r in server.read(lambda store: store.list_outbox())]


def audit(server: LiveServer, offer_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = admin(server, "GET", f"/v1/admin/offers/{offer_id}/audit", 200)
    return rows


def test_offer_reaches_device_and_acceptance_is_recorded(live_server: LiveServer) -> None:
    tokens, offer_id = with_offer(live_server)
    reply = sync_ok(live_server, tokens)
    profile = next(c for c in reply.changes if isinstance(c, ProfileUpdate))
    assert (profile.profile.limit_cents, profile.profile.used_cents, profile.profile.currency) == (
        100_000,
        25_000,
        "EUR",
    )
    assert profile.profile.available_cents == 75_000
    upsert = next(c for c in reply.changes if isinstance(c, OfferUpsert))
    assert upsert.offer.offer_id == offer_id and upsert.offer.status is OfferStatus.OFFERED
    assert (upsert.offer.current_limit_cents, upsert.offer.new_limit_cents) == (100_000, 150_000)

    accepted = sync_ok(
        live_server, tokens, [AcceptOffer(seq=1, created_at=now_ms(), offer_id=offer_id)], cursor=reply.cursor
    )
    assert [(r.status, r.code) for r in accepted.results] == [("applied", None)]
    [change] = accepted.changes
    assert isinstance(change, OfferUpsert) and change.offer.status is OfferStatus.ACCEPTED

    listed = admin(live_server, "GET", f"/v1/admin/users/{tokens.user_id}/offers", 200)
    assert [(o["offer"]["offer_id"], o["offer"]["status"]) for o in listed] == [(offer_id, "accepted")]
    trail = audit(live_server, offer_id)
    assert [(a["from_status"], a["to_status"], a["actor"], a["reason_code"]) for a in trail] == [
        (None, "offered", "admin", "offer_created"),
        ("offered", "accepted", f"device:{tokens.device_id}", "accepted_on_time"),
    ]
    assert trail[0]["ref"]  # the admin request's id
    assert (b'{"offer_id":"' + offer_id.encode() + b'"}') in [
        bytes(p) for k, p, s in outbox_rows(live_server)
    ]

    # The admin view shows what the device mirrors.
    view = live_server.user_view(tokens.user_id)
    assert view["offers"] == [
        {
            "offer_id": offer_id,
            "status": "accepted",
            "current_limit_cents": 100_000,
            "new_limit_cents": 150_000,
            "rate_bps": 1_790,
            "term_months": 12,
            "expires_at": upsert.offer.expires_at,
            "reason_codes": ["RISK_BAND_B"],
            "updated_at": change.offer.updated_at,
            # No device has sent a locale: English.
            "reasons": ["Together, these put you in a low risk band (B)."],
        }
    ]
    assert view["profile"]["limit_cents"] == 100_000

    # A second acceptance under a new seq: the offer is not open any more.
    again = sync_ok(live_server, tokens, [AcceptOffer(seq=2, created_at=now_ms(), offer_id=offer_id)])
    assert [(r.status, r.code) for r in again.results] == [("rejected", "offer_not_open")]
    assert len(audit(live_server, offer_id)) == 2


def test_decline(live_server: LiveServer) -> None:
    tokens, offer_id = with_offer(live_server)
    reply = sync_ok(
        live_server, tokens, [DeclineOffer(seq=1, created_at=now_ms(), offer_id=offer_id, reason="not_now")]
    )
    assert [(r.status, r.code) for r in reply.results] == [("applied", None)]
    last = reply.changes[-1]
    assert isinstance(last, OfferUpsert) and last.offer.status is OfferStatus.DECLINED
    assert audit(live_server, offer_id)[-1]["detail"] == {"reason": "not_now"}
    assert all(offer_id.encode() not in p for _, p, _ in outbox_rows(live_server))


def test_accept_after_expiry_is_refused_and_changes_nothing(live_server: LiveServer) -> None:
    tokens, offer_id = with_offer(live_server, expires_in_ms=1_000)
    before = live_server.user_view(tokens.user_id)
    time.sleep(1.2)
    reply = sync_ok(live_server, tokens, [AcceptOffer(seq=1, created_at=now_ms(), offer_id=offer_id)])
    assert [(r.seq, r.status, r.code) for r in reply.results] == [(1, "rejected", "offer_expired")]
    assert reply.last_seq == 1
    after = live_server.user_view(tokens.user_id)
    assert (after["offers"], after["version"]) == (before["offers"], before["version"])
    assert len(audit(live_server, offer_id)) == 1


def test_withdrawn_offer_accepted_offline_is_not_open(live_server: LiveServer) -> None:
    tokens, offer_id = with_offer(live_server)
    accepted_offline_at = now_ms()
    withdrawn = admin(live_server, "POST", f"/v1/admin/offers/{offer_id}/withdraw", 200, json={})
    assert withdrawn["offer"]["status"] == "withdrawn"
    reply = sync_ok(
        live_server, tokens, [AcceptOffer(seq=1, created_at=accepted_offline_at, offer_id=offer_id)]
    )
    assert [(r.status, r.code) for r in reply.results] == [("rejected", "offer_not_open")]
    # The device's mirror then shows the authoritative state.
    assert [c.offer.status for c in reply.changes if isinstance(c, OfferUpsert)][-1] is OfferStatus.WITHDRAWN
    assert [a["to_status"] for a in audit(live_server, offer_id)] == ["offered", "withdrawn"]
    again = live_server.admin.post(f"/v1/admin/offers/{offer_id}/withdraw", json={})
    assert again.status_code == 409 and again.headers["content-type"].startswith("application/problem+json")
    assert again.json()["code"] == "offer_closed"


@pytest.mark.parametrize("media", list(MediaType))
def test_a_refusal_whose_reply_was_lost_is_replayed_on_the_resend(
    live_server: LiveServer, media: MediaType
) -> None:
    """The reply to a refused acceptance is lost; the device resends the same request and must hear
    the refusal again (before, the resend got ``duplicate`` and the refusal was never heard)."""
    tokens, offer_id = with_offer(live_server)
    admin(live_server, "POST", f"/v1/admin/offers/{offer_id}/withdraw", 200, json={})
    body = sync_body(tokens.device_id, [AcceptOffer(seq=1, created_at=now_ms(), offer_id=offer_id)], media)
    first = post_sync(live_server, tokens.access_token, body, media)
    assert first.status_code == 200, first.text
    version = live_server.user_view(tokens.user_id)["version"]
    again = post_sync(live_server, tokens.access_token, body, media)
    assert again.status_code == 200, again.text
    reply = decode_reply(again.content, media)
    original = decode_reply(first.content, media).results[0]
    assert [(r.seq, r.status, r.code, r.detail, r.replay) for r in reply.results] == [
        (1, "rejected", "offer_not_open", original.detail, True)
    ]
    assert original.replay is False
    # Replayed, not processed again: nothing changed.
    assert reply.last_seq == 1 and live_server.user_view(tokens.user_id)["version"] == version
    assert [a["to_status"] for a in audit(live_server, offer_id)] == ["offered", "withdrawn"]
    # On the wire the flag is there only on a replay.
    raw = again.content if media is MediaType.JSON else b""
    assert media is MediaType.MSGPACK or b'"replay":true' in raw
    assert b"replay" not in first.content


# --- bad admin input: problem+json, nothing changed ---------------------------------------


def assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("limit_cents", -1),
        ("used_cents", -5),
        ("limit_cents", 10.5),
        ("rate_bps", 100_001),
        ("rate_bps", -1),
        ("currency", "euro"),
    ],
)
def test_bad_profile_is_refused(live_server: LiveServer, field: str, value: object) -> None:
    user_id = live_server.create_user()
    before = live_server.user_view(user_id)
    response = live_server.admin.post(f"/v1/admin/users/{user_id}/profile", json={**PROFILE, field: value})
    assert_problem(response, 400, "validation_failed")
    assert live_server.user_view(user_id) == before


def test_profile_for_unknown_user(live_server: LiveServer) -> None:
    assert_problem(
        live_server.admin.post("/v1/admin/users/usr_missing/profile", json=PROFILE), 404, "not_found"
    )


@pytest.mark.parametrize(
    "overrides",
    [
        {"new_limit_cents": -100},
        {"new_limit_cents": 150_000.0},
        {"rate_bps": 100_001},
        {"rate_bps": -1},
        {"term_months": 601},
        {"expires_at": 1_000},
        {"new_limit_cents": 100_000},
    ],
)
def test_bad_offer_is_refused(live_server: LiveServer, overrides: dict[str, Any]) -> None:
    tokens, _ = with_offer(live_server)
    before = live_server.user_view(tokens.user_id)
    response = live_server.admin.post(
        f"/v1/admin/users/{tokens.user_id}/offers", json=offer_terms(**overrides)
    )
    assert_problem(response, 400, "validation_failed")
    assert live_server.user_view(tokens.user_id) == before


def test_offer_for_unknown_user_or_without_profile(live_server: LiveServer) -> None:
    assert_problem(
        live_server.admin.post("/v1/admin/users/usr_missing/offers", json=offer_terms()), 404, "not_found"
    )
    user_id = live_server.create_user()
    response = live_server.admin.post(f"/v1/admin/users/{user_id}/offers", json=offer_terms())
    assert_problem(response, 400, "validation_failed")
    assert live_server.user_view(user_id)["offers"] == []


def test_unknown_offer_endpoints(live_server: LiveServer) -> None:
    assert_problem(live_server.admin.post("/v1/admin/offers/off_missing/withdraw", json={}), 404, "not_found")
    assert_problem(live_server.admin.get("/v1/admin/offers/off_missing/audit"), 404, "not_found")
    assert_problem(live_server.admin.get("/v1/admin/users/usr_missing/offers"), 404, "not_found")


def test_offer_endpoints_need_the_admin_token(live_server: LiveServer) -> None:
    response = httpx.get(f"{live_server.base_url}/v1/admin/offers/off_x/audit", timeout=10.0)
    assert_problem(response, 401, "admin_unauthorized")


@pytest.mark.parametrize("path", ["profile", "offers"])
def test_money_bodies_are_decoded_strictly(live_server: LiveServer, path: str) -> None:
    user_id = live_server.create_user()
    url = f"/v1/admin/users/{user_id}/{path}"
    assert_problem(live_server.admin.post(url, content=b"{not json"), 400, "invalid_body")
    body = {**(PROFILE if path == "profile" else offer_terms()), "surprise": 1}
    assert_problem(live_server.admin.post(url, json=body), 400, "validation_failed")
    assert live_server.user_view(user_id)["version"] == 0


def test_profile_answer_says_what_is_available_never_below_zero(live_server: LiveServer) -> None:
    user = live_server.create_user()
    path = f"/v1/admin/users/{user}/profile"
    assert admin(live_server, "POST", path, 200, json=PROFILE)["available_cents"] == 75_000
    over = {**PROFILE, "used_cents": 120_000}  # over the limit: nothing available, not a negative amount
    answer = admin(live_server, "POST", path, 200, json=over)
    assert (answer["profile"]["used_cents"], answer["available_cents"]) == (120_000, 0)
