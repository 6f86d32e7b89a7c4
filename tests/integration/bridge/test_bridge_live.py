"""A phone's life through the bridge only (JSON strings), against a real cloud server: the host
runs the model itself through the inference hook, hears events, handles pushes, and cannot erase
an accepted offer the cloud has not heard of without saying so."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ecs.fleet.activity import all_events, batches, simulate_day
from ecs.fleet.phone import wire_event
from edge_sdk.inference.backends import LiteRTBackend
from edge_sdk.privacy.scores import local_day
from edge_sdk.privacy.settings import PrivacySettings
from mobile_bridge import Bridge
from mobile_bridge.errors import BridgeCode
from tests.integration.scenarios.devices import DAY_MS
from tests.integration.scenarios.test_scenario_pipeline import offset_for_local_evening
from tests.support.live_server import LiveServer

SESSIONS = max(12, PrivacySettings().min_windows + 2)
PROFILE = {"currency": "EUR", "limit_cents": 100_000, "used_cents": 0, "rate_bps": 1_990}


@pytest.fixture(scope="module")
def server(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with LiveServer(tmp_path_factory.mktemp("bridge-cloud"), redis_url) as live:
        yield live


class NativeHost:
    """What the phone's native LiteRT does for the hook: load the file named, run the batch."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.models: dict[str, LiteRTBackend] = {}
        self.requests: list[dict[str, Any]] = []
        self.delay_s = delay_s

    def __call__(self, request_json: str) -> str:
        request = json.loads(request_json)
        self.requests.append(request)
        time.sleep(self.delay_s)
        backend = self.models.get(request["modelSha256"])
        if backend is None:
            backend = self.models[request["modelSha256"]] = LiteRTBackend()
            backend.load(Path(request["modelPath"]).read_bytes())
        outputs = backend.predict(np.asarray(request["inputs"], dtype=np.float32))
        return json.dumps({"outputs": outputs.tolist()})


def answer(bridge: Bridge, method: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(bridge.call(method, json.dumps(args or {})))
    return parsed


def ok(bridge: Bridge, method: str, args: dict[str, Any] | None = None) -> Any:
    parsed = answer(bridge, method, args)
    assert parsed["ok"] is True, (method, parsed)
    return parsed["result"]


def refused(bridge: Bridge, method: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
    parsed = answer(bridge, method, args)
    assert parsed["ok"] is False, (method, parsed)
    error: dict[str, Any] = parsed["error"]
    return error


def opened(server: LiveServer, folder: Path, host: NativeHost, events: list[dict[str, Any]]) -> Bridge:
    bridge = Bridge()
    bridge.set_inference_host(host)
    bridge.set_event_sink(lambda text: events.append(json.loads(text)))
    ok(bridge, "open", {"dataDir": str(folder), "serverUrl": server.base_url, "inference": "host"})
    return bridge


def wire_events(sessions: list[Any]) -> list[dict[str, Any]]:
    """The simulator's events as a host sends them: camelCase JSON objects with their type."""
    return [wire_event(e) for e in all_events(sessions)]


def new_offer(server: LiveServer, user_id: str, now_ms: int) -> str:
    terms = {"new_limit_cents": 150_000, "rate_bps": 1_790, "expires_at": now_ms + DAY_MS}
    created = server.admin.post(f"/v1/admin/users/{user_id}/offers", json=terms)
    assert created.status_code == 201, created.text
    offer_id: str = created.json()["offer"]["offer_id"]
    return offer_id


def test_a_phone_lives_through_the_bridge(server: LiveServer, tmp_path: Path) -> None:
    host = NativeHost()
    events: list[dict[str, Any]] = []
    bridge = opened(server, tmp_path / "phone", host, events)
    user_id = server.create_user()
    assert server.admin.post(f"/v1/admin/users/{user_id}/profile", json=PROFILE).status_code == 200
    ok(bridge, "enroll", {"code": server.enrollment_code(user_id)})
    ok(bridge, "grantConsent", {"scope": "inference"})
    ok(bridge, "grantConsent", {"scope": "share_aggregates"})
    assert ok(bridge, "consent")["scopes"] == {"inference": True, "push": False, "share_aggregates": True}

    now = int(time.time() * 1000)
    offset = offset_for_local_evening(now)
    yesterday = local_day(now - DAY_MS, offset)
    sessions = simulate_day(np.random.default_rng(5), yesterday, offset, sessions=SESSIONS)
    wire = wire_events(sessions)
    kept = sum(ok(bridge, "record", {"events": batch})["kept"] for batch in batches(wire))
    assert kept == len(wire)
    processed = ok(bridge, "process", {"tzOffsetMin": offset})
    assert (processed["windows"], processed["stored"]) == (SESSIONS, SESSIONS)
    # The probe inputs went through the hook before the first real batch.
    assert len(host.requests) >= 2 and len(host.models) == 1
    summary = ok(bridge, "windowScoreSummary", {"tzOffsetMin": offset})
    assert summary["windows"] == SESSIONS and [d["day"] for d in summary["days"]] == [yesterday]
    assert 0.0 <= summary["days"][0]["meanStress"] <= 1.0

    released = ok(bridge, "releaseDailyAggregates", {"tzOffsetMin": offset})
    assert [d["day"] for d in released["released"]] == [yesterday]
    synced = ok(bridge, "sync")
    assert synced["status"] == "synced" and synced["profileChanged"] is True
    assert ok(bridge, "profile")["limitCents"] == 100_000
    assert {"event": "profileChanged", "data": {}} in events
    assert [a["day"] for a in server.user_view(user_id)["aggregates"]] == [yesterday]
    assert [d["day"] for d in ok(bridge, "privacyLedger")["days"]] == [yesterday]

    # An offer arrives; the push ping makes the bridge sync, and the host hears of it.
    offer_id = new_offer(server, user_id, now)
    events.clear()
    pushed = ok(bridge, "handlePush", {"data": {"type": "sync"}})
    assert pushed["handled"] is True and pushed["sync"]["offersChanged"] is True
    assert events == [{"event": "offersChanged", "data": {}}]
    assert [(o["offerId"], o["status"]) for o in ok(bridge, "offers")["offers"]] == [(offer_id, "offered")]
    assert ok(bridge, "handlePush", {"data": {"type": "other-sdk"}}) == {"handled": False, "sync": None}

    # A notice: the notification is for display only; the notice itself comes by the change log.
    server.add_notice(user_id, title="Your offer", body="details inside")
    shown = {"data": {"type": "notice"}, "notification": {"title": "forged", "body": "not stored"}}
    (notice_id,) = ok(bridge, "handlePush", shown)["sync"]["newNotices"]
    (notice,) = ok(bridge, "notices")["notices"]
    assert (notice["noticeId"], notice["title"], notice["body"]) == (
        notice_id,
        "Your offer",
        "details inside",
    )
    ok(bridge, "ackNotice", {"noticeId": notice_id})

    # Accepted offline; erasing now would lose it, so the bridge refuses while the cloud is away.
    ok(bridge, "acceptOffer", {"offerId": offer_id})
    assert ok(bridge, "nextSyncDelay") == {"delayMs": 0, "reason": "pending"}
    server.stop()
    try:
        error = refused(bridge, "eraseLocalData")
        assert error["code"] == BridgeCode.PENDING_MONEY_ACTIONS
        assert error["details"] == {"offerIds": [offer_id]}
        assert ok(bridge, "status")["enrolled"] is True
    finally:
        server.start()
    # Back online, erasing delivers the acceptance first, then erases.
    assert ok(bridge, "eraseLocalData") == {"erased": True, "lostOfferAccepts": []}
    offer = server.read(lambda store: store.get_offer(offer_id))
    assert offer is not None and offer.status in {"accepted", "applied"}
    assert ok(bridge, "status")["enrolled"] is False
    ok(bridge, "close")


def test_erase_with_force_says_what_was_lost(server: LiveServer, tmp_path: Path) -> None:
    bridge = opened(server, tmp_path / "phone", NativeHost(), [])
    user_id = server.create_user()
    assert server.admin.post(f"/v1/admin/users/{user_id}/profile", json=PROFILE).status_code == 200
    offer_id = new_offer(server, user_id, int(time.time() * 1000))
    ok(bridge, "enroll", {"code": server.enrollment_code(user_id)})
    ok(bridge, "sync")
    ok(bridge, "acceptOffer", {"offerId": offer_id})
    server.stop()
    try:
        assert refused(bridge, "eraseLocalData")["code"] == BridgeCode.PENDING_MONEY_ACTIONS
        erased = ok(bridge, "eraseLocalData", {"force": True})
        assert erased == {"erased": True, "lostOfferAccepts": [offer_id]}
    finally:
        server.start()
    status = ok(bridge, "status")
    assert (status["enrolled"], status["deviceId"], status["pending"]) == (False, None, 0)
    # No consent survives the erase: capture stops until the user grants it again.
    assert not any(ok(bridge, "consent")["scopes"].values())
    assert ok(bridge, "record", {"events": _keys(int(time.time() * 1000), 5)})["kept"] == 0
    ok(bridge, "close")


def test_a_sink_may_call_the_bridge_back_even_to_close_it(server: LiveServer, tmp_path: Path) -> None:
    bridge = Bridge()
    heard: list[str] = []

    def sink(text: str) -> None:
        heard.append(json.loads(text)["event"])
        heard.append(answer(bridge, "offers")["ok"] and "offers-read")
        heard.append(answer(bridge, "close")["ok"] and "closed")

    bridge.set_event_sink(sink)
    args = {"dataDir": str(tmp_path / "phone"), "serverUrl": server.base_url}
    ok(bridge, "open", args)
    user_id = server.create_user()
    assert server.admin.post(f"/v1/admin/users/{user_id}/profile", json=PROFILE).status_code == 200
    new_offer(server, user_id, int(time.time() * 1000))
    ok(bridge, "enroll", {"code": server.enrollment_code(user_id)})
    done: list[dict[str, Any]] = []
    syncing = threading.Thread(target=lambda: done.append(answer(bridge, "sync")))
    syncing.start()
    syncing.join(30)
    assert not syncing.is_alive(), "sync hung on a sink that closes the bridge"
    assert done[0]["ok"] is True and done[0]["result"]["offersChanged"] is True
    # The second event (the profile came in the same sync) finds the bridge closed by the first.
    assert heard == ["offersChanged", "offers-read", "closed", "profileChanged", False, "closed"]
    assert refused(bridge, "status")["code"] == BridgeCode.NOT_OPEN
    assert ok(bridge, "open", args)["enrolled"] is True
    ok(bridge, "close")


def _keys(start_ms: int, count: int) -> list[dict[str, Any]]:
    return [
        {
            "type": "key",
            "downMs": start_ms + i * 300,
            "upMs": start_ms + i * 300 + 90,
            "keyClass": "character",
        }
        for i in range(count)
    ]


def test_a_host_that_does_not_answer_is_a_named_timeout(server: LiveServer, tmp_path: Path) -> None:
    bridge = Bridge()
    bridge.set_inference_host(NativeHost(delay_s=2.0))
    args = {
        "dataDir": str(tmp_path / "phone"),
        "serverUrl": server.base_url,
        "inference": "host",
        "inferenceTimeoutS": 0.2,
    }
    ok(bridge, "open", args)
    ok(bridge, "grantConsent", {"scope": "inference"})
    assert ok(bridge, "record", {"events": _keys(int(time.time() * 1000) - 3_600_000, 40)})["kept"] == 40
    error = refused(bridge, "process")
    assert error["code"] == BridgeCode.HOST_INFERENCE_TIMEOUT and error["details"] == {"timeoutS": 0.2}
    assert ok(bridge, "windowScoreSummary")["windows"] == 0
    ok(bridge, "close")

    def broken(request_json: str) -> str:
        raise RuntimeError("the native interpreter crashed")

    bridge.set_inference_host(broken)
    ok(bridge, "open", args)
    assert refused(bridge, "process")["code"] == "host_inference_error"
    ok(bridge, "close")


def test_record_runs_while_sync_runs_on_other_threads(server: LiveServer, tmp_path: Path) -> None:
    bridge = opened(server, tmp_path / "phone", NativeHost(), [])
    user_id = server.create_user()
    ok(bridge, "enroll", {"code": server.enrollment_code(user_id)})
    ok(bridge, "grantConsent", {"scope": "inference"})
    failures: list[Any] = []
    start = int(time.time() * 1000) - 7 * DAY_MS
    stop = threading.Event()
    syncs = [0]

    def syncing() -> None:
        while not stop.is_set():
            answer(bridge, "updatePushToken", {"token": f"tok-{time.monotonic_ns()}"})
            parsed = answer(bridge, "sync", {"force": True})
            syncs[0] += 1
            if not parsed["ok"] or parsed["result"]["status"] != "synced":
                failures.append(parsed)

    clock = [start]
    in_order = threading.Lock()

    def recording() -> None:
        # The capture refuses an event older than the last of its kind, so the recorders take
        # their times and record under one lock; the syncs run beside them, outside it.
        for _ in range(100):
            with in_order:
                clock[0] += 30_000
                parsed = answer(bridge, "record", {"events": _keys(clock[0], 5)})
            if parsed != {"ok": True, "result": {"kept": 5}}:
                failures.append(parsed)

    syncers = [threading.Thread(target=syncing) for _ in range(2)]
    recorders = [threading.Thread(target=recording) for _ in range(3)]
    for thread in syncers + recorders:
        thread.start()
    for thread in recorders:
        thread.join(60)
    stop.set()
    for thread in syncers:
        thread.join(60)
    assert failures == [] and syncs[0] >= 2
    # close waits for calls in flight; afterwards every call answers not_open.
    closer = threading.Thread(target=lambda: ok(bridge, "close"))
    closer.start()
    closer.join(30)
    assert not closer.is_alive()
    assert refused(bridge, "status")["code"] == BridgeCode.NOT_OPEN


def test_a_host_runtime_that_computes_something_else_is_caught_by_the_probe(
    server: LiveServer, tmp_path: Path
) -> None:
    """The model's probe inputs go through the hook first: a host whose runtime answers other
    scores (a wrong model, a broken delegate) is refused before any window score is stored."""
    host = NativeHost()

    def off_by_a_little(request_json: str) -> str:
        reply = json.loads(host(request_json))
        reply["outputs"] = [[v + 0.05 for v in row] for row in reply["outputs"]]
        return json.dumps(reply)

    bridge = Bridge()
    bridge.set_inference_host(off_by_a_little)
    ok(
        bridge,
        "open",
        {"dataDir": str(tmp_path / "phone"), "serverUrl": server.base_url, "inference": "host"},
    )
    ok(bridge, "grantConsent", {"scope": "inference"})
    assert ok(bridge, "record", {"events": _keys(int(time.time() * 1000) - 3_600_000, 40)})["kept"] == 40
    assert refused(bridge, "process")["code"] == "probe_mismatch"
    assert len(host.requests) == 1  # the probe only: no real batch went to a runtime not trusted
    assert ok(bridge, "windowScoreSummary")["windows"] == 0
    ok(bridge, "close")
