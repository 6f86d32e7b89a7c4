"""Bad input on every admin endpoint, over a real server: the right problem+json, nothing changed.

Each case names an endpoint, what is wrong with the request, and the status and ``code`` it must
get. Before and after each request the test reads everything the admin API can write, through the
store interface (:func:`tests.support.store.snapshot`): a refused request must leave all of it as
it was (users, enrollment codes, devices, consent, notices, profiles, offers, the audit trail, the
change log, the outbox, push tokens and attempts, evaluations). The module has a server of its own
(per store engine: it runs on SQLite and on PostgreSQL), so that snapshot is small. Credit
evaluation endpoints have their own tests.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
import pytest

from cloud.outbox.kinds import APPLY_OFFER
from sync.limits import MAX_NESTING_DEPTH
from sync.messages import AcceptOffer
from tests.support.databases import Databases
from tests.support.live_server import LiveServer, sync_ok
from tests.support.store import snapshot
from tests.unit.sync.test_depth import nested_json

pytestmark = pytest.mark.engines("sqlite", "postgres")

PROFILE = {"currency": "EUR", "limit_cents": 100_000, "used_cents": 25_000, "rate_bps": 1_990}
DAY_MS = 86_400_000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class World:
    """Ids the cases refer to: ``{user}`` has a device, a profile, an open and a closed offer and
    an accepted one whose outbox row is pending; ``{bare}`` has no profile; ``{erased}`` was erased."""

    user: str
    bare: str
    device: str
    open_offer: str
    closed_offer: str
    pending_row: int
    erased: str

    def fill(self, template: str) -> str:
        return template.format(
            user=self.user,
            bare=self.bare,
            device=self.device,
            open_offer=self.open_offer,
            closed_offer=self.closed_offer,
            pending_row=self.pending_row,
            erased=self.erased,
            operator="nobody",
            service_key="0123456789abcdef",
            review="rev_nothing",
            release=7,
        )


def admin(server: LiveServer, method: str, path: str, expected: int, **kwargs: Any) -> Any:
    response = server.admin.request(method, path, **kwargs)
    assert response.status_code == expected, response.text
    return response.json()


def new_offer(server: LiveServer, user_id: str) -> str:
    terms = {"new_limit_cents": 150_000, "rate_bps": 1_790, "expires_at": now_ms() + 14 * DAY_MS}
    offer_id: str = admin(server, "POST", f"/v1/admin/users/{user_id}/offers", 201, json=terms)["offer"][
        "offer_id"
    ]
    return offer_id


def database(server: LiveServer) -> dict[str, Any]:
    """Everything the admin API can write, as the store reads it."""
    return server.read(snapshot)


@pytest.fixture(scope="module")
def live_server(
    redis_url: str, tmp_path_factory: pytest.TempPathFactory, databases: Databases, engine: str
) -> Iterator[LiveServer]:
    """The module's own server: the snapshot reads all of its database, so it holds only the world."""
    url = databases.url(engine)
    env = {} if url is None else {"DATABASE_URL": url}
    with LiveServer(tmp_path_factory.mktemp(f"bad-admin-input-{engine}"), redis_url, env=env) as server:
        yield server


@pytest.fixture(scope="module")
def world(live_server: LiveServer) -> World:
    tokens = live_server.new_device()
    user = tokens.user_id
    admin(live_server, "POST", f"/v1/admin/users/{user}/profile", 200, json=PROFILE)
    open_offer = new_offer(live_server, user)
    closed_offer = new_offer(live_server, user)
    admin(live_server, "POST", f"/v1/admin/offers/{closed_offer}/withdraw", 200, json={})
    accepted = new_offer(live_server, user)
    reply = sync_ok(live_server, tokens, [AcceptOffer(seq=1, created_at=now_ms(), offer_id=accepted)])
    assert [r.status for r in reply.results] == ["applied"]
    # No worker serves this server's queue: the row stays pending.
    [pending_row] = [
        row.outbox_id
        for row in live_server.read(lambda store: store.list_outbox())
        if row.kind == APPLY_OFFER
        and row.state == "pending"
        and msgspec.json.decode(row.payload) == {"offer_id": accepted}
    ]
    erased = live_server.create_user()
    admin(live_server, "POST", f"/v1/admin/users/{erased}/erase", 200)
    return World(
        erased=erased,
        user=user,
        bare=live_server.create_user(),
        device=tokens.device_id,
        open_offer=open_offer,
        closed_offer=closed_offer,
        pending_row=pending_row,
    )


NOT_JSON = object()
"""A case body of bytes that are not JSON."""
DEEP = b'{"zz":' + nested_json(1000) + b"}"
"""A body nested 1,001 levels deep (it answered 500 before the nesting limit)."""
ONE_OVER = b'{"zz":' + nested_json(MAX_NESTING_DEPTH) + b"}"
"""A body nested one level deeper than the limit."""

ENDPOINTS: list[tuple[str, str, Any]] = [
    ("POST", "/v1/admin/users", {}),
    ("POST", "/v1/admin/users/{user}/enrollment-codes", {}),
    ("GET", "/v1/admin/devices", None),
    ("POST", "/v1/admin/devices/{device}/revoke", None),
    ("POST", "/v1/admin/users/{user}/notices", {"kind": "k", "title": "t", "body": "b"}),
    ("GET", "/v1/admin/users/{user}/view", None),
    ("POST", "/v1/admin/users/{user}/profile", PROFILE),
    (
        "POST",
        "/v1/admin/users/{user}/offers",
        {"new_limit_cents": 200_000, "rate_bps": 1, "expires_at": 2**52},
    ),
    ("GET", "/v1/admin/users/{user}/offers", None),
    ("POST", "/v1/admin/offers/{open_offer}/withdraw", {}),
    ("GET", "/v1/admin/offers/{open_offer}/audit", None),
    ("GET", "/v1/admin/users/{user}/audit", None),
    ("GET", "/v1/admin/users/{user}/pushes", None),
    ("GET", "/v1/admin/analytics/stress?day=2024-01-01", None),
    ("GET", "/v1/admin/users/{user}/stress", None),
    ("GET", "/v1/admin/outbox", None),
    ("GET", "/v1/admin/outbox/dead", None),
    ("POST", "/v1/admin/outbox/{pending_row}/retry", None),
    ("GET", "/v1/admin/users", None),
    ("GET", "/v1/admin/offers?status=offered", None),
    ("GET", "/v1/admin/evaluations", None),
    ("GET", "/v1/admin/outbox/rows", None),
    ("GET", "/v1/admin/users/{user}/timeline", None),
    ("GET", "/v1/admin/dashboard", None),
    ("GET", "/v1/admin/dashboard/stream", None),
    ("GET", "/v1/admin/devices/{device}", None),
    ("GET", "/v1/admin/offers/{open_offer}", None),
    ("GET", "/v1/admin/doctor", None),
    ("POST", "/v1/admin/logout", None),
    ("GET", "/v1/admin/me", None),
    ("POST", "/v1/admin/operators/bootstrap", {"username": "boot", "password": "a long new passphrase"}),
    ("GET", "/v1/admin/operators", None),
    (
        "POST",
        "/v1/admin/operators",
        {"username": "newbie", "password": "a long new passphrase", "role": "viewer"},
    ),
    ("PUT", "/v1/admin/operators/{operator}/role", {"role": "viewer"}),
    ("POST", "/v1/admin/operators/{operator}/disable", None),
    ("GET", "/v1/admin/auth-audit", None),
    ("POST", "/v1/admin/service-keys", {"name": "lender", "role": "operator"}),
    ("GET", "/v1/admin/users/{user}/export", None),
    ("POST", "/v1/admin/users/{user}/erase", None),
    ("GET", "/v1/admin/reviews", None),
    ("POST", "/v1/admin/reviews/{review}/close", {"resolution": "checked"}),
    ("GET", "/v1/admin/service-keys", None),
    ("POST", "/v1/admin/service-keys/{service_key}/revoke", None),
    ("GET", "/v1/admin/model-releases", None),
    ("POST", "/v1/admin/model-releases", {"manifest": {}, "signature": "", "files": {}}),
    ("POST", "/v1/admin/model-releases/{release}/rollout", {"percent": 1}),
]
UNGUARDED = {("POST", "/v1/admin/login")}
"""Admin routes anyone may call: signing in is how a credential is had."""
"""Every admin endpoint (but credit evaluation's), with a request that would succeed."""

VF, IB, NF = "validation_failed", "invalid_body", "not_found"
RELEASE = {"release": 1, "model_version": "m-1", "feature_spec_version": "features-v1", "sha256": "0" * 64}
NEW_ADMIN = {"username": "second", "password": "a long new passphrase"}
NEW_OPERATOR = {**NEW_ADMIN, "role": "operator"}
OFFER = {"new_limit_cents": 150_000, "rate_bps": 1_790, "term_months": 12}


def offer(**changes: Any) -> dict[str, Any]:
    return {**OFFER, "expires_at": "{future}", **changes}


def profile(**changes: Any) -> dict[str, Any]:
    return {**PROFILE, **changes}


# (case id, method, path, body or query, status, code). A ``dict``/``list`` body is sent as JSON
# (``"{future}"``/``"{past}"`` become times a day ahead/behind); a ``str`` is a query string.
CASES: list[tuple[str, str, str, Any, int, str]] = [
    # users and enrollment codes
    ("user-empty-ref", "POST", "/v1/admin/users", {"external_ref": ""}, 400, VF),
    ("notice-no-body", "POST", "/v1/admin/users/{user}/notices", b"", 400, VF),
    ("profile-blank-body", "POST", "/v1/admin/users/{user}/profile", b"  ", 400, IB),
    ("user-ref-type", "POST", "/v1/admin/users", {"external_ref": 5}, 400, VF),
    ("user-unknown-field", "POST", "/v1/admin/users", {"external_ref": "x", "role": "root"}, 400, VF),
    ("user-array", "POST", "/v1/admin/users", [1], 400, VF),
    ("user-not-json", "POST", "/v1/admin/users", NOT_JSON, 400, IB),
    ("user-deep", "POST", "/v1/admin/users", DEEP, 400, IB),
    ("user-one-over", "POST", "/v1/admin/users", ONE_OVER, 400, IB),
    ("code-deep", "POST", "/v1/admin/users/{user}/enrollment-codes", DEEP, 400, IB),
    ("code-unknown-user", "POST", "/v1/admin/users/usr_nobody/enrollment-codes", {}, 404, NF),
    ("code-negative-ttl", "POST", "/v1/admin/users/{user}/enrollment-codes", {"ttl_s": -1}, 400, VF),
    ("code-float-ttl", "POST", "/v1/admin/users/{user}/enrollment-codes", {"ttl_s": 60.0}, 400, VF),
    ("code-string-ttl", "POST", "/v1/admin/users/{user}/enrollment-codes", {"ttl_s": "60"}, 400, VF),
    ("code-unknown-field", "POST", "/v1/admin/users/{user}/enrollment-codes", {"uses": 2}, 400, VF),
    ("code-not-json", "POST", "/v1/admin/users/{user}/enrollment-codes", NOT_JSON, 400, IB),
    # devices
    ("devices-unknown-user", "GET", "/v1/admin/devices", "user_id=usr_nobody", 404, NF),
    ("devices-bad-platform", "GET", "/v1/admin/devices", "platform=windows", 400, VF),
    ("devices-bad-revoked", "GET", "/v1/admin/devices", "revoked=maybe", 400, VF),
    # the lists: limits, cursors, filters
    ("users-limit-zero", "GET", "/v1/admin/users", "limit=0", 400, VF),
    ("users-limit-high", "GET", "/v1/admin/users", "limit=501", 400, VF),
    ("users-limit-type", "GET", "/v1/admin/users", "limit=ten", 400, VF),
    ("users-cursor-garbage", "GET", "/v1/admin/users", "cursor=!!!", 400, "invalid_cursor"),
    ("users-cursor-other-list", "GET", "/v1/admin/users", "cursor=WzFd", 400, "invalid_cursor"),
    ("users-cursor-long", "GET", "/v1/admin/users", "cursor=" + "A" * 513, 400, VF),
    ("offers-bad-status", "GET", "/v1/admin/offers", "status=approved", 400, VF),
    ("offers-unknown-user", "GET", "/v1/admin/offers", "user_id=usr_nobody", 404, NF),
    ("evaluations-bad-status", "GET", "/v1/admin/evaluations", "status=maybe", 400, VF),
    ("evaluations-unknown-user", "GET", "/v1/admin/evaluations", "user_id=usr_nobody", 404, NF),
    ("outbox-rows-bad-kind", "GET", "/v1/admin/outbox/rows", "kind=mail", 400, VF),
    ("outbox-rows-bad-state", "GET", "/v1/admin/outbox/rows", "state=lost", 400, VF),
    ("timeline-unknown-user", "GET", "/v1/admin/users/usr_nobody/timeline", None, 404, NF),
    (
        "timeline-cursor-of-users",
        "GET",
        "/v1/admin/users/{user}/timeline",
        "cursor=WzEsImEiXQ",
        400,
        "invalid_cursor",
    ),
    ("revoke-unknown-device", "POST", "/v1/admin/devices/dev_nobody/revoke", None, 404, NF),
    ("show-unknown-device", "GET", "/v1/admin/devices/dev_nobody", None, 404, NF),
    ("show-unknown-offer", "GET", "/v1/admin/offers/off_nobody", None, 404, NF),
    # notices and the user view
    (
        "notice-unknown-user",
        "POST",
        "/v1/admin/users/usr_nobody/notices",
        {"kind": "k", "title": "t", "body": ""},
        404,
        NF,
    ),
    (
        "notice-empty-title",
        "POST",
        "/v1/admin/users/{user}/notices",
        {"kind": "k", "title": "", "body": ""},
        400,
        VF,
    ),
    ("notice-missing-body", "POST", "/v1/admin/users/{user}/notices", {"kind": "k", "title": "t"}, 400, VF),
    (
        "notice-body-type",
        "POST",
        "/v1/admin/users/{user}/notices",
        {"kind": "k", "title": "t", "body": 5},
        400,
        VF,
    ),
    (
        "notice-unknown-field",
        "POST",
        "/v1/admin/users/{user}/notices",
        {"kind": "k", "title": "t", "body": "", "x": 1},
        400,
        VF,
    ),
    ("notice-not-json", "POST", "/v1/admin/users/{user}/notices", NOT_JSON, 400, IB),
    ("notice-deep", "POST", "/v1/admin/users/{user}/notices", DEEP, 400, IB),
    ("view-unknown-user", "GET", "/v1/admin/users/usr_nobody/view", None, 404, NF),
    # credit profile
    ("profile-negative-limit", "POST", "/v1/admin/users/{user}/profile", profile(limit_cents=-1), 400, VF),
    ("profile-negative-used", "POST", "/v1/admin/users/{user}/profile", profile(used_cents=-1), 400, VF),
    ("profile-float-limit", "POST", "/v1/admin/users/{user}/profile", profile(limit_cents=1500.0), 400, VF),
    ("profile-string-limit", "POST", "/v1/admin/users/{user}/profile", profile(limit_cents="1500"), 400, VF),
    ("profile-huge-limit", "POST", "/v1/admin/users/{user}/profile", profile(limit_cents=2**63), 400, VF),
    ("profile-rate-high", "POST", "/v1/admin/users/{user}/profile", profile(rate_bps=100_001), 400, VF),
    ("profile-rate-negative", "POST", "/v1/admin/users/{user}/profile", profile(rate_bps=-1), 400, VF),
    ("profile-currency", "POST", "/v1/admin/users/{user}/profile", profile(currency="eur"), 400, VF),
    ("profile-missing-field", "POST", "/v1/admin/users/{user}/profile", {"currency": "EUR"}, 400, VF),
    ("profile-unknown-field", "POST", "/v1/admin/users/{user}/profile", profile(score=700), 400, VF),
    ("profile-unknown-user", "POST", "/v1/admin/users/usr_nobody/profile", profile(), 404, NF),
    ("profile-not-json", "POST", "/v1/admin/users/{user}/profile", NOT_JSON, 400, IB),
    ("profile-deep", "POST", "/v1/admin/users/{user}/profile", DEEP, 400, IB),
    ("profile-one-over", "POST", "/v1/admin/users/{user}/profile", ONE_OVER, 400, IB),
    # offers
    ("offer-negative-limit", "POST", "/v1/admin/users/{user}/offers", offer(new_limit_cents=-1), 400, VF),
    (
        "offer-limit-not-above",
        "POST",
        "/v1/admin/users/{user}/offers",
        offer(new_limit_cents=100_000),
        400,
        VF,
    ),
    ("offer-float-limit", "POST", "/v1/admin/users/{user}/offers", offer(new_limit_cents=150_000.0), 400, VF),
    ("offer-rate-high", "POST", "/v1/admin/users/{user}/offers", offer(rate_bps=100_001), 400, VF),
    ("offer-rate-negative", "POST", "/v1/admin/users/{user}/offers", offer(rate_bps=-5), 400, VF),
    ("offer-term-negative", "POST", "/v1/admin/users/{user}/offers", offer(term_months=-1), 400, VF),
    ("offer-expiry-past", "POST", "/v1/admin/users/{user}/offers", offer(expires_at="{past}"), 400, VF),
    ("offer-expiry-type", "POST", "/v1/admin/users/{user}/offers", offer(expires_at="tomorrow"), 400, VF),
    ("offer-expiry-missing", "POST", "/v1/admin/users/{user}/offers", OFFER, 400, VF),
    ("offer-empty-reason", "POST", "/v1/admin/users/{user}/offers", offer(reason_codes=[""]), 400, VF),
    ("offer-unknown-field", "POST", "/v1/admin/users/{user}/offers", offer(current_limit_cents=1), 400, VF),
    ("offer-no-profile", "POST", "/v1/admin/users/{bare}/offers", offer(), 400, VF),
    ("offer-unknown-user", "POST", "/v1/admin/users/usr_nobody/offers", offer(), 404, NF),
    ("offer-not-json", "POST", "/v1/admin/users/{user}/offers", NOT_JSON, 400, IB),
    ("offer-deep", "POST", "/v1/admin/users/{user}/offers", DEEP, 400, IB),
    ("offers-unknown-user", "GET", "/v1/admin/users/usr_nobody/offers", None, 404, NF),
    ("withdraw-unknown-offer", "POST", "/v1/admin/offers/off_nobody/withdraw", {}, 404, NF),
    ("withdraw-closed-offer", "POST", "/v1/admin/offers/{closed_offer}/withdraw", {}, 409, "offer_closed"),
    ("withdraw-empty-reason", "POST", "/v1/admin/offers/{open_offer}/withdraw", {"reason_code": ""}, 400, VF),
    ("withdraw-reason-type", "POST", "/v1/admin/offers/{open_offer}/withdraw", {"reason_code": 5}, 400, VF),
    (
        "withdraw-unknown-field",
        "POST",
        "/v1/admin/offers/{open_offer}/withdraw",
        {"status": "applied"},
        400,
        VF,
    ),
    ("withdraw-not-json", "POST", "/v1/admin/offers/{open_offer}/withdraw", NOT_JSON, 400, IB),
    ("withdraw-deep", "POST", "/v1/admin/offers/{open_offer}/withdraw", DEEP, 400, IB),
    ("audit-unknown-offer", "GET", "/v1/admin/offers/off_nobody/audit", None, 404, NF),
    ("user-audit-unknown-user", "GET", "/v1/admin/users/usr_nobody/audit", None, 404, NF),
    ("user-pushes-unknown-user", "GET", "/v1/admin/users/usr_nobody/pushes", None, 404, NF),
    # analytics
    ("stress-no-day", "GET", "/v1/admin/analytics/stress", None, 400, VF),
    ("stress-bad-day", "GET", "/v1/admin/analytics/stress", "day=2024-13-01", 400, VF),
    ("stress-compact-day", "GET", "/v1/admin/analytics/stress", "day=20240101", 400, VF),
    ("stress-window-zero", "GET", "/v1/admin/analytics/stress", "day=2024-01-01&window_days=0", 400, VF),
    ("stress-window-high", "GET", "/v1/admin/analytics/stress", "day=2024-01-01&window_days=91", 400, VF),
    ("stress-window-negative", "GET", "/v1/admin/analytics/stress", "day=2024-01-01&window_days=-1", 400, VF),
    ("stress-window-type", "GET", "/v1/admin/analytics/stress", "day=2024-01-01&window_days=a", 400, VF),
    # Days so early that the window would start before year 1 answered 500 (OverflowError).
    ("stress-day-year-1", "GET", "/v1/admin/analytics/stress", "day=0001-01-01&window_days=90", 400, VF),
    ("stress-day-1969", "GET", "/v1/admin/analytics/stress", "day=1969-12-31", 400, VF),
    ("user-stress-unknown-user", "GET", "/v1/admin/users/usr_nobody/stress", None, 404, NF),
    ("user-stress-bad-day", "GET", "/v1/admin/users/{user}/stress", "as_of=2024-02-30", 400, VF),
    ("user-stress-day-type", "GET", "/v1/admin/users/{user}/stress", "as_of=yesterday", 400, VF),
    ("user-stress-year-1", "GET", "/v1/admin/users/{user}/stress", "as_of=0001-01-01", 400, VF),
    # outbox
    ("dead-limit-negative", "GET", "/v1/admin/outbox/dead", "limit=-1", 400, VF),
    ("dead-limit-zero", "GET", "/v1/admin/outbox/dead", "limit=0", 400, VF),
    ("dead-limit-high", "GET", "/v1/admin/outbox/dead", "limit=501", 400, VF),
    ("dead-limit-type", "GET", "/v1/admin/outbox/dead", "limit=ten", 400, VF),
    ("dead-limit-float", "GET", "/v1/admin/outbox/dead", "limit=1.5", 400, VF),
    ("dead-after-negative", "GET", "/v1/admin/outbox/dead", "after_id=-1", 400, VF),
    ("dead-after-type", "GET", "/v1/admin/outbox/dead", "after_id=x", 400, VF),
    ("dead-after-high", "GET", "/v1/admin/outbox/dead", f"after_id={2**53 + 1}", 400, VF),
    ("retry-unknown-row", "POST", "/v1/admin/outbox/999999999/retry", None, 404, NF),
    ("retry-id-type", "POST", "/v1/admin/outbox/abc/retry", None, 400, VF),
    ("retry-id-zero", "POST", "/v1/admin/outbox/0/retry", None, 400, VF),
    ("retry-id-negative", "POST", "/v1/admin/outbox/-1/retry", None, 400, VF),
    ("retry-id-high", "POST", f"/v1/admin/outbox/{2**53 + 1}/retry", None, 400, VF),
    ("retry-pending-row", "POST", "/v1/admin/outbox/{pending_row}/retry", None, 409, "outbox_not_retryable"),
    ("outbox-wrong-method", "DELETE", "/v1/admin/outbox", None, 405, "method_not_allowed"),
    ("revoke-unknown-reason", "POST", "/v1/admin/devices/{device}/revoke", {"reason": "lost"}, 400, VF),
    ("revoke-unknown-field", "POST", "/v1/admin/devices/{device}/revoke", {"why": "stolen"}, 400, VF),
    # operator accounts
    ("login-no-password", "POST", "/v1/admin/login", {"username": "root"}, 400, VF),
    ("login-unknown-field", "POST", "/v1/admin/login", {"username": "a", "password": "b", "otp": 1}, 400, VF),
    ("login-long-name", "POST", "/v1/admin/login", {"username": "a" * 65, "password": "b"}, 400, VF),
    ("login-empty-password", "POST", "/v1/admin/login", {"username": "a", "password": ""}, 400, VF),
    ("login-not-json", "POST", "/v1/admin/login", NOT_JSON, 400, IB),
    (
        "login-unknown",
        "POST",
        "/v1/admin/login",
        {"username": "nobody", "password": "wrong"},
        401,
        "login_failed",
    ),
    (
        "bootstrap-short-password",
        "POST",
        "/v1/admin/operators/bootstrap",
        NEW_ADMIN | {"password": "short"},
        400,
        VF,
    ),
    (
        "bootstrap-bad-name",
        "POST",
        "/v1/admin/operators/bootstrap",
        NEW_ADMIN | {"username": "Bad Name"},
        400,
        VF,
    ),
    ("bootstrap-no-body", "POST", "/v1/admin/operators/bootstrap", b"", 400, VF),
    ("operator-bad-role", "POST", "/v1/admin/operators", NEW_ADMIN | {"role": "root"}, 400, VF),
    ("operator-no-role", "POST", "/v1/admin/operators", NEW_ADMIN, 400, VF),
    (
        "operator-long-password",
        "POST",
        "/v1/admin/operators",
        NEW_OPERATOR | {"password": "p" * 257},
        400,
        VF,
    ),
    ("role-unknown-operator", "PUT", "/v1/admin/operators/nobody/role", {"role": "viewer"}, 404, NF),
    ("role-bad-role", "PUT", "/v1/admin/operators/nobody/role", {"role": "god"}, 400, VF),
    ("disable-unknown-operator", "POST", "/v1/admin/operators/nobody/disable", None, 404, NF),
    ("auth-audit-bad-cursor", "GET", "/v1/admin/auth-audit", "cursor=!!!", 400, "invalid_cursor"),
    ("auth-audit-limit-zero", "GET", "/v1/admin/auth-audit", "limit=0", 400, VF),
    ("export-unknown-user", "GET", "/v1/admin/users/usr_nobody/export", None, 404, NF),
    ("export-erased-user", "GET", "/v1/admin/users/{erased}/export", None, 410, "user_erased"),
    ("erase-unknown-user", "POST", "/v1/admin/users/usr_nobody/erase", None, 404, NF),
    # {user}'s accepted offer waits for its worker: money is in flight.
    ("erase-accepted-offer", "POST", "/v1/admin/users/{user}/erase", None, 409, "offer_in_flight"),
    ("code-erased-user", "POST", "/v1/admin/users/{erased}/enrollment-codes", {}, 410, "user_erased"),
    (
        "notice-erased-user",
        "POST",
        "/v1/admin/users/{erased}/notices",
        {"kind": "info", "title": "t", "body": "b"},
        410,
        "user_erased",
    ),
    ("profile-erased-user", "POST", "/v1/admin/users/{erased}/profile", profile(), 410, "user_erased"),
    ("offer-erased-user", "POST", "/v1/admin/users/{erased}/offers", offer(), 410, "user_erased"),
    ("close-unknown-review", "POST", "/v1/admin/reviews/{review}/close", {"resolution": "ok"}, 404, NF),
    ("close-empty-resolution", "POST", "/v1/admin/reviews/{review}/close", {"resolution": ""}, 400, VF),
    (
        "close-long-resolution",
        "POST",
        "/v1/admin/reviews/{review}/close",
        {"resolution": "r" * 2001},
        400,
        VF,
    ),
    ("close-no-body", "POST", "/v1/admin/reviews/{review}/close", b"", 400, VF),
    (
        "close-unknown-field",
        "POST",
        "/v1/admin/reviews/{review}/close",
        {"resolution": "ok", "x": 1},
        400,
        VF,
    ),
    ("reviews-bad-status", "GET", "/v1/admin/reviews", "status=pending", 400, VF),
    # model releases (their own module tests the releases refused for what they hold)
    ("release-not-json", "POST", "/v1/admin/model-releases", NOT_JSON, 400, IB),
    ("release-no-body", "POST", "/v1/admin/model-releases", b"", 400, VF),
    (
        "release-missing-files",
        "POST",
        "/v1/admin/model-releases",
        {"manifest": RELEASE, "signature": ""},
        400,
        VF,
    ),
    (
        "release-unsigned",
        "POST",
        "/v1/admin/model-releases",
        {"manifest": RELEASE, "signature": "", "files": {}},
        422,
        "release_invalid",
    ),
    (
        "release-files-not-base64",
        "POST",
        "/v1/admin/model-releases",
        {"manifest": RELEASE, "signature": "", "files": {"manifest.json": "%%"}},
        400,
        VF,
    ),
    (
        "rollout-unknown-release",
        "POST",
        "/v1/admin/model-releases/{release}/rollout",
        {"percent": 5},
        404,
        NF,
    ),
    ("rollout-over-100", "POST", "/v1/admin/model-releases/{release}/rollout", {"percent": 101}, 400, VF),
    ("rollout-a-string", "POST", "/v1/admin/model-releases/{release}/rollout", {"percent": "5"}, 400, VF),
    ("rollout-no-body", "POST", "/v1/admin/model-releases/{release}/rollout", b"", 400, VF),
    ("rollout-release-not-a-number", "POST", "/v1/admin/model-releases/x/rollout", {"percent": 5}, 404, NF),
    (
        "rollout-release-too-large",
        "POST",
        "/v1/admin/model-releases/99999999999999999999999/rollout",
        {"percent": 5},
        400,
        VF,
    ),
    ("rollout-release-zero", "POST", "/v1/admin/model-releases/0/rollout", {"percent": 5}, 400, VF),
    ("reviews-bad-cursor", "GET", "/v1/admin/reviews", "cursor=!!!", 400, "invalid_cursor"),
    ("key-admin-role", "POST", "/v1/admin/service-keys", {"name": "lender", "role": "admin"}, 400, VF),
    ("key-bad-name", "POST", "/v1/admin/service-keys", {"name": "Lender Inc", "role": "viewer"}, 400, VF),
    ("key-no-role", "POST", "/v1/admin/service-keys", {"name": "lender"}, 400, VF),
    ("key-revoke-unknown", "POST", "/v1/admin/service-keys/0123456789abcdef/revoke", None, 404, NF),
]


def send(
    server: LiveServer, world: World, method: str, path: str, body: Any, headers: dict[str, str] | None = None
) -> httpx.Response:
    url = f"{server.base_url}{world.fill(path)}"
    out = {"Authorization": f"Bearer {server.admin_token}", **(headers or {})}
    if body is NOT_JSON:
        out["Content-Type"] = "application/json"
        return httpx.request(method, url, content=b"{not json", headers=out, timeout=10.0)
    if isinstance(body, bytes):
        out["Content-Type"] = "application/json"
        return httpx.request(method, url, content=body, headers=out, timeout=10.0)
    if isinstance(body, str):
        return httpx.request(method, f"{url}?{body}", headers=out, timeout=10.0)
    if body is None:
        return httpx.request(method, url, headers=out, timeout=10.0)
    times = {"{future}": now_ms() + DAY_MS, "{past}": now_ms() - DAY_MS}
    raw = msgspec.json.encode(body).decode()
    for marker, value in times.items():
        raw = raw.replace(f'"{marker}"', str(value))
    out["Content-Type"] = "application/json"
    return httpx.request(method, url, content=raw.encode(), headers=out, timeout=10.0)


def assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert (problem["status"], problem["code"]) == (status, code), problem
    assert problem["request_id"] == response.headers["x-request-id"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_admin_input_is_a_problem_and_changes_nothing(
    live_server: LiveServer, world: World, method: str, path: str, body: Any, status: int, code: str
) -> None:
    before = database(live_server)
    assert_problem(send(live_server, world, method, path, body), status, code)
    assert database(live_server) == before


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", "Basic dGVzdA==", "Bearer"])
@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS, ids=[f"{m} {p}" for m, p, _ in ENDPOINTS])
def test_every_admin_endpoint_needs_the_admin_token(
    live_server: LiveServer, world: World, method: str, path: str, body: Any, authorization: str | None
) -> None:
    before = database(live_server)
    headers = {} if authorization is None else {"Authorization": authorization}
    kwargs: dict[str, Any] = {} if body is None else {"json": body}
    response = httpx.request(
        method, f"{live_server.base_url}{world.fill(path)}", headers=headers, timeout=10.0, **kwargs
    )
    assert_problem(response, 401, "admin_unauthorized")
    assert database(live_server) == before


def test_the_endpoint_list_is_complete(live_server: LiveServer) -> None:
    """Every admin route in the OpenAPI schema is in ENDPOINTS (credit evaluation's aside)."""
    schema = httpx.get(f"{live_server.base_url}/schema/openapi.json", timeout=10.0).json()
    served = {
        (method.upper(), path)
        for path, item in schema["paths"].items()
        if path.startswith("/v1/admin")
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }
    evaluation = {(m, p) for m, p in served if "evaluat" in p or "credit" in p}
    listed = set()
    for method, template, _ in ENDPOINTS:
        path = template.split("?")[0]
        for name in (
            "user",
            "device",
            "open_offer",
            "pending_row",
            "operator",
            "service_key",
            "review",
            "release",
        ):
            path = path.replace(
                "{" + name + "}",
                "{"
                + {
                    "user": "user_id",
                    "device": "device_id",
                    "open_offer": "offer_id",
                    "pending_row": "outbox_id",
                    "operator": "username",
                    "service_key": "key_id",
                    "review": "review_id",
                    "release": "release",
                }[name]
                + "}",
            )
        listed.add((method, path))
    assert served - evaluation - UNGUARDED == listed - evaluation


def changed(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    """The parts of two snapshots that differ (``user <id>/<part>`` inside a user's)."""
    parts = set()
    for key in before.keys() | after.keys():
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if key.startswith("user ") and isinstance(old, dict) and isinstance(new, dict):
            parts |= {f"{key}/{part}" for part in old.keys() | new.keys() if old.get(part) != new.get(part)}
        else:
            parts.add(key)
    return parts


def test_the_snapshot_sees_every_admin_write(live_server: LiveServer) -> None:
    """The "changes nothing" checks are not vacuous: what each admin write changes shows."""
    user = live_server.create_user()
    device = live_server.new_device(user).device_id
    mine = f"user {user}"
    terms = {**OFFER, "expires_at": now_ms() + DAY_MS}
    writes: list[tuple[str, Any, int, set[str]]] = [
        ("/v1/admin/users", {"external_ref": "snapshot"}, 201, {"users"}),
        (f"/v1/admin/users/{user}/enrollment-codes", {}, 201, {f"{mine}/enrollment_codes"}),
        (
            f"/v1/admin/users/{user}/notices",
            {"kind": "k", "title": "t", "body": "b"},
            201,
            {"users", f"{mine}/view", f"{mine}/change_log"},
        ),
        (
            f"/v1/admin/users/{user}/profile",
            PROFILE,
            200,
            {"users", f"{mine}/view", f"{mine}/change_log", f"{mine}/audit"},
        ),
        (
            f"/v1/admin/users/{user}/offers",
            terms,
            201,
            {"users", f"{mine}/view", f"{mine}/change_log", f"{mine}/audit"},
        ),
    ]
    for path, body, status, parts in writes:
        before = database(live_server)
        admin(live_server, "POST", path, status, json=body)
        assert parts <= changed(before, database(live_server)), path
    [offer] = admin(live_server, "GET", f"/v1/admin/users/{user}/offers", 200)
    before = database(live_server)
    admin(live_server, "POST", f"/v1/admin/offers/{offer['offer']['offer_id']}/withdraw", 200, json={})
    assert {f"{mine}/audit", f"{mine}/view", f"{mine}/change_log"} <= changed(before, database(live_server))
    before = database(live_server)
    admin(live_server, "POST", f"/v1/admin/devices/{device}/revoke", 200)
    assert {"devices", f"{mine}/view"} <= changed(before, database(live_server))
