"""A user's erasure end to end, with the real SDK on three devices.

The admin API erases the user; a worker sends the data-only ping through the real firebase-admin to
the loopback FCM; the phone (through the bridge, as a host app runs it) syncs on the ping, gets the
``Wipe`` alone and erases itself, and the host hears ``deviceWiped``. A tablet that was offline
during the erasure, holding an acceptance of the offer the erasure withdrew, comes back: the
acceptance is refused and the tablet erases itself. A device offline until its rows were purged
finds its identity gone (``refresh_invalid``), and the lender, refused a code for the erased user,
erases the app's data. Real API server, private Redis, a worker process, SQLite in the cloud (the
store conformance suite runs the erasure on PostgreSQL too).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from cloud.settings import AuthSettings
from edge_sdk.errors import DeviceRevoked, NotEnrolled
from edge_sdk.sync_client.outcome import SyncStatus
from mobile_bridge import Bridge
from tests.integration.scenarios.devices import DAY_MS, Device
from tests.integration.workers.test_workers_offer_e2e import PROFILE, TERMS, admin, wait_for
from tests.support.fake_fcm import FakeFcm, fake_fcm_server, write_service_account
from tests.support.live_server import LiveServer
from tests.support.worker import WorkerProcess, private_stack


@pytest.fixture
def fcm() -> Iterator[FakeFcm]:
    with fake_fcm_server() as fake:
        yield fake


def call(bridge: Bridge, method: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = json.loads(bridge.call(method, json.dumps(args or {})))
    return answer


def ok(bridge: Bridge, method: str, args: dict[str, Any] | None = None) -> Any:
    answer = call(bridge, method, args)
    assert answer["ok"] is True, (method, answer)
    return answer["result"]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _sent_pushes(server: LiveServer, user_id: str) -> int:
    return sum(a.outcome == "sent" for a in server.read(lambda store: store.push_attempts(user_id)))


def test_erasure_reaches_every_device(tmp_path: Path, fcm: FakeFcm) -> None:
    token = f"fcm-{uuid.uuid4().hex}"
    credentials = write_service_account(tmp_path / "service-account.json", fcm)
    with private_stack(tmp_path) as server:
        worker = WorkerProcess(
            server,
            server.extra_env["QUEUE_NAME"],
            tmp_path / "worker.log",
            FCM_CREDENTIALS_FILE=str(credentials),
            FCM_ENDPOINT=fcm.url,
        )
        tablet = Device(server, tmp_path / "tablet.db")
        old = Device(server, tmp_path / "old.db")
        events: list[dict[str, Any]] = []
        phone = Bridge()
        phone.set_event_sink(lambda text: events.append(json.loads(text)))
        try:
            user_id = server.create_user(external_ref="crm-42")
            admin(server, "POST", f"/v1/admin/users/{user_id}/profile", 200, json=PROFILE)
            ok(phone, "open", {"dataDir": str(tmp_path / "phone"), "serverUrl": server.base_url})
            ok(phone, "enroll", {"code": server.enrollment_code(user_id)})
            ok(phone, "grantConsent", {"scope": "push"})
            ok(phone, "updatePushToken", {"token": token})
            tablet.client.enroll(server.enrollment_code(user_id))
            old.client.enroll(server.enrollment_code(user_id))
            assert ok(phone, "sync")["status"] == "synced"
            created = admin(
                server,
                "POST",
                f"/v1/admin/users/{user_id}/offers",
                201,
                json={**TERMS, "expires_at": now_ms() + 7 * DAY_MS},
            )
            offer_id = created["offer"]["offer_id"]
            # The offer's announcement reaches FCM and is recorded before anything else happens.
            wait_for("the offer's ping", lambda: _sent_pushes(server, user_id) == 1)
            for device in (tablet, old):
                assert device.client.sync().status is SyncStatus.SYNCED
                assert [o.offer_id for o in device.client.offers()] == [offer_id]
            # Offline, the tablet's user accepts; the old device just stays away.
            tablet.transport.online = False
            old.transport.online = False
            tablet.client.accept_offer(offer_id)

            started = time.monotonic()
            erased = admin(server, "POST", f"/v1/admin/users/{user_id}/erase", 200)
            assert {k: v for k, v in erased.items() if k != "erased_at"} == {
                "user_id": user_id,
                "already_erased": False,
                "devices_to_wipe": 3,
                "offers_withdrawn": [offer_id],
                "evaluations_cancelled": 0,
                "pushes_cancelled": 0,
            }

            # The data-only ping arrives; the host hands it to the bridge, which syncs and is wiped.
            wait_for("the erasure's ping", lambda: len(fcm.sent_to(token)) == 2)
            ping = fcm.sent_to(token)[-1]
            assert ping["data"] == {"type": "sync"} and "notification" not in ping
            handled = ok(phone, "handlePush", {"data": ping["data"]})
            assert handled["sync"]["status"] == "wiped"
            wiped_s = time.monotonic() - started
            assert {"event": "deviceWiped", "data": {}} in events
            status = ok(phone, "status")
            assert (status["enrolled"], status["deviceId"], status["pending"]) == (False, None, 0)
            assert ok(phone, "offers")["offers"] == [] and ok(phone, "profile") is None
            print(f"erase to phone wiped: {wiped_s * 1000:.0f} ms (API, worker, FCM, sync)")

            # What the cloud holds now: the tombstone and the money records.
            view = server.user_view(user_id)
            assert view["erased_at"] == erased["erased_at"]
            assert (view["consent"], view["notices"], view["aggregates"]) == ({}, [], [])
            assert [o["status"] for o in view["offers"]] == ["withdrawn"]
            (listed,) = admin(server, "GET", "/v1/admin/users", 200)["items"]
            assert (listed["user_id"], listed["external_ref"]) == (user_id, None)
            for method, path in (("GET", "export"), ("POST", "enrollment-codes")):
                refused = server.admin.request(method, f"/v1/admin/users/{user_id}/{path}")
                assert (refused.status_code, refused.json()["code"]) == (410, "user_erased")

            # The tablet comes back: its acceptance is refused and it erases itself.
            tablet.transport.online = True
            outcome = tablet.client.sync(force=True)
            assert outcome.status is SyncStatus.WIPED
            assert tablet.client.offers() == [] and tablet.client.status().pending == 0
            with pytest.raises(NotEnrolled):
                tablet.client.sync(force=True)
            assert [o["status"] for o in server.user_view(user_id)["offers"]] == ["withdrawn"]

            # Past every refresh token's lifetime the retention job purges the user's devices.
            refresh_ttl_s = {f.name: f.default for f in fields(AuthSettings)}["refresh_ttl_s"]
            past = now_ms() + int(refresh_ttl_s) * 1000 + DAY_MS
            purged = server.read(lambda store: store.purge_wiped_devices(now=past, limit=100))
            assert (purged.devices, purged.users) == (3, 1)
            assert server.user_view(user_id)["devices"] == []
            # The old device still holds the user's data, but its identity is gone; the lender gets
            # 410 for a new code, so the app erases its data.
            old.transport.online = True
            with pytest.raises(DeviceRevoked) as lost:
                old.client.sync(force=True)
            assert lost.value.code == "refresh_invalid"
            assert [o.offer_id for o in old.client.offers()] == [offer_id]
            refused = server.admin.post(f"/v1/admin/users/{user_id}/enrollment-codes", json={})
            assert refused.status_code == 410
            old.client.erase_local_data()
            assert old.client.offers() == [] and old.client.profile() is None

            log = worker.stop()
            assert "Traceback" not in log
        finally:
            ok(phone, "close")
            tablet.close()
            old.close()
            if not worker.stopped:
                worker.stop(check=False)
