"""An offer end to end, with the real SDK as the phone.

Admin API → sync → acceptance made offline on the phone → sync → ``apply_offer`` in a worker
process → push through the real firebase-admin to the loopback FCM → sync shows the new limit.
Real API server over HTTP, a private Redis, a worker process; SQLite on the phone, SQLite or
PostgreSQL in the cloud (the test runs on both store engines).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cloud.push.messages import NOTICE_TTL_S
from edge_sdk.sync_client.outcome import SyncStatus
from sync.messages import ConsentScope
from tests.integration.scenarios.devices import Device
from tests.support.databases import Databases
from tests.support.fake_fcm import PROJECT_ID, FakeFcm, fake_fcm_server, write_service_account
from tests.support.live_server import LiveServer
from tests.support.worker import WorkerProcess, private_stack

pytestmark = pytest.mark.engines("sqlite", "postgres")

PROFILE = {"currency": "EUR", "limit_cents": 100_000, "used_cents": 25_000, "rate_bps": 1_990}
TERMS = {
    "new_limit_cents": 150_000,
    "rate_bps": 1_790,
    "term_months": 12,
    "reason_codes": ["RISK_BAND_B"],
    "policy_version": "scorecard-test",
}
WAIT_S = 30.0


def wait_for(what: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def admin(server: LiveServer, method: str, path: str, expected: int, **kwargs: Any) -> Any:
    response = server.admin.request(method, path, **kwargs)
    assert response.status_code == expected, response.text
    return response.json()


@pytest.fixture
def fcm() -> Iterator[FakeFcm]:
    with fake_fcm_server() as fake:
        yield fake


def test_offer_accepted_offline_is_applied_pushed_and_shown(
    tmp_path: Path, fcm: FakeFcm, databases: Databases, engine: str
) -> None:
    push_token = f"fcm-{uuid.uuid4().hex}"
    credentials = write_service_account(tmp_path / "service-account.json", fcm)
    with private_stack(tmp_path, databases.url(engine)) as server:
        # The default relay timeout (30 s): the API's enqueue after its commit carries the job.
        worker = WorkerProcess(
            server,
            server.extra_env["QUEUE_NAME"],
            tmp_path / "worker.log",
            FCM_CREDENTIALS_FILE=str(credentials),
            FCM_ENDPOINT=fcm.url,
        )
        device = Device(server, tmp_path / "phone.db")
        try:
            phone = device.client
            user_id = server.create_user()
            device_id = phone.enroll(server.enrollment_code(user_id))
            admin(server, "POST", f"/v1/admin/users/{user_id}/profile", 200, json=PROFILE)
            phone.set_consent(ConsentScope.PUSH, True)
            phone.register_push_token(push_token)
            assert phone.sync().status is SyncStatus.SYNCED

            # The cloud makes an offer; the phone syncs and sees it.
            expires_at = time.time_ns() // 1_000_000 + 7 * 86_400_000
            created = admin(
                server,
                "POST",
                f"/v1/admin/users/{user_id}/offers",
                201,
                json={**TERMS, "expires_at": expires_at},
            )
            offer_id = created["offer"]["offer_id"]
            assert phone.sync(force=True).status is SyncStatus.SYNCED
            (offered,) = phone.offers()
            assert (offered.offer_id, offered.status, offered.new_limit_cents) == (
                offer_id,
                "offered",
                150_000,
            )

            # Offline, the user accepts: the mirror shows it at once, nothing reaches the cloud.
            device.transport.online = False
            seq = phone.accept_offer(offer_id)
            assert [(o.status, o.pending) for o in phone.offers()] == [("accepting", True)]
            assert phone.sync().status is not SyncStatus.SYNCED
            assert server.user_view(user_id)["offers"][0]["status"] == "offered"

            # Back online: the acceptance is pushed, acknowledged, and the worker takes over.
            device.transport.online = True
            outcome = phone.sync(force=True)
            assert (outcome.status, outcome.pushed) == (SyncStatus.SYNCED, 1)
            assert phone.status().last_seq_acked == seq
            assert [(o.status, o.pending) for o in phone.offers()] == [("accepted", False)]

            # The limit_applied notice reaches the phone's registered token through FCM, after the
            # data-only sync ping that announced the offer.
            wait_for("the push at FCM", lambda: len(fcm.sent_to(push_token)) == 2)
            ping, message = fcm.sent_to(push_token)
            assert ping["data"] == {"type": "sync"}
            assert "notification" not in ping
            assert ping["android"]["collapse_key"] == "sync"
            assert message["data"] == {
                "type": "notice",
                "notice_id": f"limit_applied:{offer_id}",
                "kind": "limit_applied",
            }
            assert message["notification"] == {
                "title": "You have an update",
                "body": "Open the app to see it.",
            }
            assert message["android"] == {"priority": "normal", "ttl": f"{NOTICE_TTL_S}s"}
            requests = [r for r in fcm.requests if r["body"]["message"].get("token") == push_token]
            assert [r["path"] for r in requests] == [f"/v1/projects/{PROJECT_ID}/messages:send"] * 2
            assert fcm.token_requests >= 1  # the worker's google-auth fetched an OAuth token
            wait_for(
                "the pushes to be recorded",
                lambda: _push_attempts(server, user_id) == [("fcm", "sent", device_id)] * 2,
            )

            # The phone syncs and shows the new limit, the applied offer and the notice.
            assert phone.sync(force=True).status is SyncStatus.SYNCED
            profile = phone.profile()
            assert profile is not None
            assert (profile.limit_cents, profile.rate_bps) == (150_000, 1_790)
            assert [(o.offer_id, o.status, o.pending) for o in phone.offers()] == [
                (offer_id, "applied", False)
            ]
            assert [(n.notice_id, n.kind, n.title) for n in phone.notices()] == [
                (f"limit_applied:{offer_id}", "limit_applied", "Your new credit limit is active")
            ]
            assert phone.rejections() == []

            (apply_id,) = _outbox_ids(server, "apply_offer")
            ping_id, push_id = _outbox_ids(server, "send_push")
            log = worker.stop()
            # Every job ran once, as attempt 0: the API enqueued the ping and the apply, the apply its push.
            assert f"send_push outbox {ping_id} attempt 0: done (sent)" in log
            assert f"apply_offer outbox {apply_id} attempt 0: applied" in log
            assert f"send_push outbox {push_id} attempt 0: done (sent)" in log
            assert "relay re-enqueued" not in log and "Traceback" not in log
        finally:
            device.close()
            if not worker.stopped:
                worker.stop(check=False)


def _push_attempts(server: LiveServer, user_id: str) -> list[tuple[str, str, str]]:
    attempts = server.read(lambda store: store.push_attempts(user_id))
    return [(a.sender, a.outcome, a.device_id) for a in attempts]


def _outbox_ids(server: LiveServer, kind: str) -> list[int]:
    return [r.outbox_id for r in server.read(lambda store: store.list_outbox()) if r.kind == kind]
