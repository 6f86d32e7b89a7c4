"""``ecs``'s operator commands against a real cloud: each reads or changes what the admin API says,
refusals exit 1 with the cloud's code, and the doctor's verdict is its exit code."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ecs.cli import Exit, main
from sync.messages import RequestReview
from tests.support.databases import Databases
from tests.support.live_server import LiveServer, sync_ok

pytestmark = pytest.mark.engines("sqlite", "postgres")


@pytest.fixture(scope="module")
def server(
    engine: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory, databases: Databases
) -> Iterator[LiveServer]:
    url = databases.url(engine)
    with LiveServer(
        tmp_path_factory.mktemp("ecs-ops"), redis_url, env={} if url is None else {"DATABASE_URL": url}
    ) as live:
        yield live


PROFILE = {"currency": "EUR", "limit_cents": 100_000, "used_cents": 0, "rate_bps": 1_990}


def ecs(server: LiveServer, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    """Run ``ecs --json <argv>`` against ``server``: (exit code, the JSON document or None, stderr)."""
    code = main(["--json", *argv, "--server", server.base_url, "--admin-token", server.admin_token])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out else None, captured.err


def test_users_devices_codes_and_offers(server: LiveServer, capsys: pytest.CaptureFixture[str]) -> None:
    ref = f"ops-{time.time_ns()}"
    user_id = server.create_user(ref)
    code, created, _ = ecs(server, capsys, "codes", "create", user_id, "--ttl-s", "600")
    assert code == Exit.OK and set(created) == {"code", "expires_at"}
    tokens = server.enroll(created["code"])

    code, users, _ = ecs(server, capsys, "users", "list", "--ref", ref)
    assert code == Exit.OK and [u["user_id"] for u in users] == [user_id]
    code, devices, _ = ecs(server, capsys, "devices", "list", "--user", user_id, "--state", "active")
    assert [d["device_id"] for d in devices] == [tokens.device_id]
    code, device, _ = ecs(server, capsys, "devices", "show", tokens.device_id)
    assert code == Exit.OK and device["user_id"] == user_id

    assert server.admin.post(f"/v1/admin/users/{user_id}/profile", json=PROFILE).status_code == 200
    code, offer, _ = ecs(
        server, capsys, "offers", "create", user_id, "--new-limit-cents", "150000", "--rate-bps", "1790",
        "--reason", "MANUAL_REVIEW",
    )  # fmt: skip
    assert code == Exit.OK and offer["offer"]["status"] == "offered"
    offer_id = offer["offer"]["offer_id"]
    code, listed, _ = ecs(server, capsys, "offers", "list", "--user", user_id, "--status", "offered")
    assert [o["offer"]["offer_id"] for o in listed] == [offer_id]
    code, shown, _ = ecs(server, capsys, "offers", "show", offer_id)
    assert shown["offer"]["offer"]["reason_codes"] == ["MANUAL_REVIEW"] and len(shown["audit"]) == 1
    code, withdrawn, _ = ecs(server, capsys, "offers", "withdraw", offer_id, "--reason", "ops_test")
    assert code == Exit.OK and withdrawn["offer"]["status"] == "withdrawn"
    # The cloud's refusal: exit 1, its code in the message, nothing on stdout.
    code, document, err = ecs(server, capsys, "offers", "withdraw", offer_id)
    assert (code, document) == (Exit.FAILED, None) and "offer_closed" in err

    code, user, _ = ecs(server, capsys, "users", "show", user_id)
    kinds = {e["kind"] for e in user["timeline"]}
    assert {"device_enrolled", "audit"} <= kinds and user["view"]["user_id"] == user_id
    code, _, err = ecs(server, capsys, "users", "show", "usr_nobody")
    assert code == Exit.FAILED and "not_found" in err


def test_reviews_are_listed_and_closed(server: LiveServer, capsys: pytest.CaptureFixture[str]) -> None:
    tokens = server.new_device()
    assert server.admin.post(f"/v1/admin/users/{tokens.user_id}/profile", json=PROFILE).status_code == 200
    offer = server.admin.post(
        f"/v1/admin/users/{tokens.user_id}/offers",
        json={
            "new_limit_cents": 150_000,
            "rate_bps": 1_790,
            "expires_at": int(time.time() * 1000) + 86_400_000,
        },
    ).json()["offer"]
    review = RequestReview(seq=1, created_at=1, offer_id=offer["offer_id"], note="please look again")
    sync_ok(server, tokens, [review], protocol=2)

    code, listed, _ = ecs(server, capsys, "reviews", "list", "--status", "open", "--all")
    (opened,) = [r for r in listed if r["offer_id"] == offer["offer_id"]]
    assert code == Exit.OK and (opened["note"], opened["status"]) == ("please look again", "open")
    code, closed, _ = ecs(
        server, capsys, "reviews", "close", opened["review_id"], "--resolution", "It stands."
    )
    assert code == Exit.OK and (closed["status"], closed["resolution"]) == ("closed", "It stands.")
    code, _, err = ecs(server, capsys, "reviews", "close", opened["review_id"], "--resolution", "again")
    assert code == Exit.FAILED and "review_closed" in err
    code, listed, _ = ecs(server, capsys, "reviews", "list", "--status", "open", "--all")
    assert opened["review_id"] not in [r["review_id"] for r in listed]


def test_evaluations_and_the_outbox(server: LiveServer, capsys: pytest.CaptureFixture[str]) -> None:
    user_id = server.create_user()
    features = {
        "months_on_book": 24,
        "on_time_payments_12m": 12,
        "missed_payments_12m": 0,
        "income_band": "high",
    }
    assert server.admin.post(f"/v1/admin/users/{user_id}/profile", json=PROFILE).status_code == 200
    assert server.admin.put(f"/v1/admin/users/{user_id}/credit-features", json=features).status_code == 200
    evaluation_id = server.admin.post(f"/v1/admin/users/{user_id}/evaluate").json()["evaluation_id"]
    code, found, _ = ecs(server, capsys, "evaluations", "list", "--user", user_id)
    assert code == Exit.OK and [e["evaluation_id"] for e in found] == [evaluation_id]
    code, shown, _ = ecs(server, capsys, "evaluations", "show", evaluation_id)
    assert shown["status"] == "pending"  # no worker here
    code, stats, _ = ecs(server, capsys, "outbox", "stats")
    assert code == Exit.OK and any(c["kind"] == "evaluate_credit" for c in stats["counts"])
    code, dead, _ = ecs(server, capsys, "outbox", "dead")
    assert code == Exit.OK and "items" in dead
    code, _, err = ecs(server, capsys, "outbox", "retry", "999999")
    assert code == Exit.FAILED and "not_found" in err


def test_the_doctor_fails_without_workers_and_says_which_check(
    server: LiveServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report, _ = ecs(server, capsys, "doctor")
    checks = {c["name"]: c for c in report["checks"]}
    assert {"ready", "settings", "database", "redis", "migrations", "workers", "clock skew"} <= set(checks)
    for name in ("ready", "settings", "database", "redis", "migrations", "clock skew"):
        assert checks[name]["ok"], checks[name]
    # No worker runs beside the shared test servers: the doctor says so, and exits 1.
    assert not checks["workers"]["ok"] and report["ok"] is False and code == Exit.FAILED


def test_the_installed_command_prints_tables(server: LiveServer) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ecs.cli", "outbox", "stats", "--server", server.base_url,
         "--admin-token", server.admin_token],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "outbox rows" in done.stdout and "queue" in done.stdout
