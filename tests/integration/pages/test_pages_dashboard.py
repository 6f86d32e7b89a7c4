"""The live dashboard in a real browser (Debian's chromium through Playwright), over a real API,
worker and Redis: an operator signs in (a cookie session), it paints its figures and charts, and a figure
changes on its own after a device syncs and after the worker applies the offer it accepted — with
no console error and no request beyond loopback. A screenshot is kept; the timings are printed and
written beside it (``dashboard-timings.json``).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from sync.messages import AcceptOffer, ConsentScope, RequestReview, SetConsent
from tests.support.browser import ARTIFACTS, browser_page
from tests.support.live_server import OPERATOR_PASSWORD, LiveServer, sample_aggregate, sync_ok
from tests.support.worker import private_stack, worker_process

PROFILE = {"currency": "EUR", "limit_cents": 100_000, "used_cents": 0, "rate_bps": 1_990}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with private_stack(tmp_path_factory.mktemp("dashboard"), OUTBOX_RELAY_TIMEOUT_S="60") as live:
        live.bootstrap_admin("root")
        yield live


def sign_in(page: Page, password: str = OPERATOR_PASSWORD) -> None:
    page.fill("#username", "root")
    page.fill("#password", password)
    page.click("button[type=submit]")


def text(page: Page, element: str) -> str:
    return page.inner_text(f"#{element}")


@pytest.mark.timeout(120)
def test_the_dashboard_paints_and_follows_syncs_and_applied_offers(
    server: LiveServer, tmp_path: Path
) -> None:
    queue = server.extra_env["QUEUE_NAME"]
    with worker_process(server, queue, tmp_path / "worker.log"), browser_page() as watched:
        page = watched.page
        started = time.monotonic()
        page.goto(server.base_url + "/dashboard")
        sign_in(page)
        page.wait_for_selector('body[data-updates="1"]', timeout=15_000)
        first_paint_s = time.monotonic() - started
        assert page.is_visible("#board") and not page.is_visible("#login")
        assert page.locator("#chart-funnel svg rect.bar").count() == 4  # offered, accepted, applied, failed
        for chart in ("sync_rate", "funnel", "pushes", "guardrail", "stress", "valence", "arousal"):
            assert page.locator(f"#chart-{chart} svg title").count() == 1, chart
        assert text(page, "devices_seen_1h") == "0" and text(page, "offers_applied") == "0"

        user_id = server.create_user()
        tokens = server.enroll(server.enrollment_code(user_id))
        assert server.admin.post(f"/v1/admin/users/{user_id}/profile", json=PROFILE).status_code == 200
        terms = {
            "new_limit_cents": 150_000,
            "rate_bps": 1_790,
            "expires_at": int(time.time() * 1000) + 3_600_000,
        }
        created = server.admin.post(f"/v1/admin/users/{user_id}/offers", json=terms)
        assert created.status_code == 201
        offer_id = created.json()["offer"]["offer_id"]

        synced = time.monotonic()
        now = int(time.time() * 1000)
        today = dt.datetime.now(dt.UTC).date().isoformat()
        share = SetConsent(seq=2, created_at=now, scope=ConsentScope.SHARE_AGGREGATES, granted=True)
        reply = sync_ok(
            server,
            tokens,
            [
                AcceptOffer(seq=1, created_at=now, offer_id=offer_id),
                share,
                sample_aggregate(3, day=today),
                RequestReview(seq=4, created_at=now, offer_id=offer_id),
            ],
        )
        assert [r.status for r in reply.results] == ["applied"] * 4
        # (The page's CSP forbids evaluating strings, so waits are selectors, not wait_for_function.)
        expect(page.locator("#devices_seen_1h")).to_have_text("1", timeout=15_000)
        first_update_s = time.monotonic() - synced
        # The worker applies the accepted offer and announces it: the funnel follows.
        expect(page.locator("#offers_applied")).to_have_text("1", timeout=20_000)
        applied_update_s = time.monotonic() - synced
        assert int(page.get_attribute("body", "data-updates") or 0) >= 2
        # Today's aggregate is in the week's debiased distributions, one point per level.
        for field in ("stress", "valence", "arousal"):
            assert page.locator(f"#chart-{field} svg circle.point").count() == 4, field
        # The user's request for a person to review the decision waits for an operator.
        assert text(page, "open_reviews") == "1"
        applied_bar = page.locator('#chart-funnel rect[data-label="applied"]')
        assert applied_bar.get_attribute("data-value") == "1"

        shot = watched.screenshot("dashboard.png")
        assert shot.stat().st_size > 10_000
        assert watched.outside_loopback == []
        assert watched.console_errors == [] and watched.page_errors == []

    timings = {
        "first_paint_s": round(first_paint_s, 3),
        "first_live_update_after_sync_s": round(first_update_s, 3),
        "applied_offer_shown_after_sync_s": round(applied_update_s, 3),
        "screenshot": str(
            shot.relative_to(ARTIFACTS.parent) if shot.is_relative_to(ARTIFACTS.parent) else shot
        ),
    }
    (ARTIFACTS / "dashboard-timings.json").write_text(json.dumps(timings, indent=2) + "\n")
    print("dashboard timings:", timings)


def test_a_wrong_password_is_refused_on_the_page(server: LiveServer) -> None:
    with browser_page() as watched:
        page = watched.page
        page.goto(server.base_url + "/dashboard")
        sign_in(page, "not the password")
        page.wait_for_selector("#login-error:not([hidden])", timeout=10_000)
        assert "refused" in page.inner_text("#login-error")
        assert page.is_hidden("#board")
        assert watched.outside_loopback == [] and watched.page_errors == []


def test_the_session_survives_a_reload_and_signing_out_ends_it(server: LiveServer) -> None:
    with browser_page() as watched:
        page = watched.page
        page.goto(server.base_url + "/dashboard")
        sign_in(page)
        expect(page.locator("#operator")).to_have_text("root (admin)")
        page.wait_for_selector('body[data-updates="1"]', timeout=15_000)
        session = {c["name"]: c for c in page.context.cookies()}["ec_session"]
        assert session["httpOnly"] and session["sameSite"] == "Strict"
        assert page.evaluate("document.cookie").count("ec_session") == 0  # the script cannot read it
        page.reload()
        page.wait_for_selector('body[data-updates="1"]', timeout=15_000)  # signed in still
        page.click("#logout")
        page.wait_for_selector("#login:not([hidden])", timeout=10_000)
        assert page.is_hidden("#board")
        # The session ended on the server, not only in this browser: its cookie opens nothing.
        ended = httpx.get(server.base_url + "/v1/admin/me", cookies={"ec_session": session["value"]})
        assert ended.status_code == 401
        assert watched.outside_loopback == [] and watched.page_errors == []
