"""Credit evaluations run by a real arq worker process, over a real API server, Redis and a database
(SQLite, and PostgreSQL: the module runs once per store engine).

evaluate → the ``evaluate_credit`` job → offer created → the device sees it on its next sync; the
announcement push goes now, or — when the user's recent stress (from aggregates the device sent)
makes the guardrail defer promotions — waits for a calmer time while a data-only sync ping goes
now. Pushes are recorded by the log sender (no Firebase credentials).
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from cloud.outbox.kinds import SEND_PUSH
from sync.messages import (
    ConsentScope,
    FieldMechanism,
    Levels,
    Mechanism,
    OfferStatus,
    OfferUpsert,
    Platform,
    RegisterPushToken,
    SetConsent,
    SubmitAggregate,
    TokenPair,
)
from tests.support.databases import Databases
from tests.support.live_server import LiveServer, sync_ok
from tests.support.worker import private_stack, worker_process

pytestmark = pytest.mark.engines("sqlite", "postgres")

PROFILE = {"currency": "EUR", "limit_cents": 200_000, "used_cents": 20_000, "rate_bps": 1_990}
FEATURES = {"months_on_book": 36, "on_time_payments_12m": 12, "missed_payments_12m": 0, "income_band": "high"}
WAIT_S = 20.0


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, databases: Databases, engine: str
) -> Iterator[LiveServer]:
    with private_stack(tmp_path_factory.mktemp(f"evaluate-{engine}"), databases.url(engine)) as live:
        yield live


def admin(server: LiveServer, method: str, path: str, expected: int, **kwargs: Any) -> Any:
    response = server.admin.request(method, path, **kwargs)
    assert response.status_code == expected, response.text
    return response.json()


def wait_done(server: LiveServer, evaluation_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_S
    while True:
        evaluation: dict[str, Any] = admin(server, "GET", f"/v1/admin/evaluations/{evaluation_id}", 200)
        if evaluation["status"] != "pending":
            return evaluation
        assert time.monotonic() < deadline, f"evaluation {evaluation_id} still pending"
        time.sleep(0.05)


def push_rows(server: LiveServer, user_id: str) -> list[tuple[dict[str, Any], str, int | None]]:
    """``(payload, state, not_before)`` of the user's ``send_push`` outbox rows, oldest first."""
    rows = [
        (msgspec.json.decode(r.payload), r.state, r.not_before)
        for r in server.read(lambda store: store.list_outbox())
        if r.kind == SEND_PUSH
    ]
    return [row for row in rows if row[0].get("user_id") == user_id]


def sent_messages(server: LiveServer, user_id: str) -> list[dict[str, Any]]:
    """The message of every push attempt to the user that was sent, oldest first."""
    attempts = server.read(lambda store: store.push_attempts(user_id))
    return [dict(a.message) for a in attempts if a.outcome == "sent"]


def wait_sent(server: LiveServer, user_id: str, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + WAIT_S
    while len(messages := sent_messages(server, user_id)) < count:
        assert time.monotonic() < deadline, f"{len(messages)} push(es) sent, wanted {count}"
        time.sleep(0.05)
    return messages


def device_with_push(server: LiveServer, user_id: str, *mutations: Any) -> TokenPair:
    tokens = server.new_device(user_id, Platform.ANDROID)
    consent = SetConsent(seq=1, created_at=now_ms(), scope=ConsentScope.PUSH, granted=True)
    token = RegisterPushToken(seq=2, created_at=now_ms(), token=f"tok-{user_id}", platform=Platform.ANDROID)
    reply = sync_ok(server, tokens, [consent, token, *mutations])
    assert {r.status for r in reply.results} == {"applied"}, reply.results
    return tokens


def high_stress_days(first_seq: int, days: int) -> list[Any]:
    """Aggregates of ``days`` recent days, each released as the top stress level."""
    share = SetConsent(seq=first_seq, created_at=now_ms(), scope=ConsentScope.SHARE_AGGREGATES, granted=True)
    mechanism = Mechanism(
        stress=FieldMechanism(k=2, epsilon=0.6),
        valence=FieldMechanism(k=3, epsilon=0.2),
        arousal=FieldMechanism(k=3, epsilon=0.2),
    )
    today = datetime.datetime.now(datetime.UTC).date()
    return [
        share,
        *(
            SubmitAggregate(
                seq=first_seq + 1 + i,
                created_at=now_ms(),
                day=(today - datetime.timedelta(days=i + 1)).isoformat(),
                tz_offset_min=0,
                window_bucket=2,
                levels=Levels(stress=1, valence=1, arousal=1),
                mechanism=mechanism,
                model_version="m1",
            )
            for i in range(days)
        ),
    ]


def ready_user(server: LiveServer) -> str:
    user_id = server.create_user()
    admin(server, "POST", f"/v1/admin/users/{user_id}/profile", 200, json=PROFILE)
    admin(server, "PUT", f"/v1/admin/users/{user_id}/credit-features", 200, json=FEATURES)
    return user_id


def test_evaluation_offer_reaches_the_device_and_is_announced(server: LiveServer, tmp_path: Path) -> None:
    user_id = ready_user(server)
    tokens = device_with_push(server, user_id)
    seen = sync_ok(server, tokens)
    # A long relay timeout: only the API's enqueue after its commit can have queued the job.
    with worker_process(
        server, server.extra_env["QUEUE_NAME"], tmp_path / "w.log", OUTBOX_RELAY_TIMEOUT_S="600"
    ) as w:
        queued = admin(server, "POST", f"/v1/admin/users/{user_id}/evaluate", 202)
        evaluation = wait_done(server, queued["evaluation_id"])
        assert evaluation["status"] == "done"
        result = evaluation["result"]
        assert result["guardrail"]["reason_codes"] == ["GUARDRAIL_NO_SIGNAL"]
        assert result["guardrail"]["estimate"] is None
        offer_id = evaluation["offer_id"]
        assert offer_id is not None and result["offer"]["new_limit_cents"] == 300_000

        reply = sync_ok(server, tokens, cursor=seen.cursor)
        [upsert] = [c for c in reply.changes if isinstance(c, OfferUpsert)]
        assert (upsert.offer.offer_id, upsert.offer.status) == (offer_id, OfferStatus.OFFERED)
        assert (upsert.offer.new_limit_cents, upsert.offer.rate_bps) == (300_000, 1_290)
        assert upsert.offer.reason_codes == result["reason_codes"]

        # The announcement was pushed at once, as a shown notification; no separate ping.
        [message] = wait_sent(server, user_id, 1)
        assert message["data"] == {
            "type": "notice",
            "notice_id": f"offer_available:{offer_id}",
            "kind": "offer_available",
        }
        # The lock screen learns nothing of the offer: the amount arrives by sync, above.
        assert (message["title"], message["body"]) == ("You have an update", "Open the app to see it.")
        trail = admin(server, "GET", f"/v1/admin/offers/{offer_id}/audit", 200)
        assert [(a["actor"], a["reason_code"], a["ref"]) for a in trail] == [
            ("worker", "offer_created", f"job:{queued['job_id']}")
        ]
        assert "Traceback" not in w.stop()


def test_recent_stress_lowers_the_offer_and_defers_its_announcement(
    server: LiveServer, tmp_path: Path
) -> None:
    user_id = ready_user(server)
    # Thirty recent days all released as high stress: posterior mean about 0.75.
    tokens = device_with_push(server, user_id, *high_stress_days(3, 30))
    seen = sync_ok(server, tokens)
    env = {"OUTBOX_RELAY_TIMEOUT_S": "0.3", "GUARDRAIL_WITHHOLD_THRESHOLD": "0.9"}
    with worker_process(server, server.extra_env["QUEUE_NAME"], tmp_path / "w.log", **env) as w:
        queued = admin(server, "POST", f"/v1/admin/users/{user_id}/evaluate", 202)
        evaluation = wait_done(server, queued["evaluation_id"])
        result = evaluation["result"]
        estimate = result["guardrail"]["estimate"]
        # The window is the 30 days ending today; the device released yesterday and 29 before it.
        assert estimate["n_days"] == 29 and estimate["posterior_mean"] > 0.7
        assert result["guardrail"]["reason_codes"] == [
            "GUARDRAIL_INCREASE_LOWERED",
            "GUARDRAIL_PROMO_DEFERRED",
        ]
        assert (result["proposed"]["new_limit_cents"], result["offer"]["new_limit_cents"]) == (
            300_000,
            250_000,
        )
        assert result["offer"]["rate_bps"] == result["proposed"]["rate_bps"]

        reply = sync_ok(server, tokens, cursor=seen.cursor)
        [upsert] = [c for c in reply.changes if isinstance(c, OfferUpsert)]
        assert upsert.offer.new_limit_cents == 250_000

        # Only the data-only ping goes now; the announcement waits for the calm time, and the
        # relay (timeout 0.3 s, passes every 0.1 s) leaves it alone however stale it looks.
        [ping] = wait_sent(server, user_id, 1)
        assert (ping["data"], ping["collapse_key"], ping["title"]) == ({"type": "sync"}, "sync", None)
        time.sleep(1.0)
        assert len(sent_messages(server, user_id)) == 1
        announce, sync_ping = push_rows(server, user_id)
        assert announce[0]["notice_kind"] == "offer_available" and announce[1] == "pending"
        assert announce[2] == result["promo_not_before"] and announce[2] > now_ms() + 11 * 3_600_000
        assert sync_ping[1] == "done"
        assert "Traceback" not in w.stop()


def test_an_operators_offer_sends_a_sync_ping(server: LiveServer, tmp_path: Path) -> None:
    user_id = ready_user(server)
    device_with_push(server, user_id)
    terms = {
        "new_limit_cents": 250_000,
        "rate_bps": 1_790,
        "term_months": 12,
        "expires_at": now_ms() + 86_400_000,
        "reason_codes": [],
        "policy_version": "manual",
    }
    # A long relay timeout: only the API's enqueue after its commit can have queued the ping.
    with worker_process(
        server, server.extra_env["QUEUE_NAME"], tmp_path / "w.log", OUTBOX_RELAY_TIMEOUT_S="600"
    ) as w:
        admin(server, "POST", f"/v1/admin/users/{user_id}/offers", 201, json=terms)
        [ping] = wait_sent(server, user_id, 1)
        assert (ping["data"], ping["collapse_key"], ping["title"]) == ({"type": "sync"}, "sync", None)
        assert "Traceback" not in w.stop()
