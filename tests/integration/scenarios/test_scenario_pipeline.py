"""The on-device pipeline end to end over the real cloud: two simulated days of raw events become
one released daily aggregate, and only that (and consent) ever reaches the server.

The device's UTC offset is chosen so that its local time is about 18:00 when the test runs: the
day before is complete, today's sessions (08:00 to 17:00) are in the past and today is not.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest

from ecs.fleet.activity import all_events, batches, simulate_day
from edge_sdk.client import EdgeClient
from edge_sdk.inference import MANIFEST_FILE, committed_model_dir
from edge_sdk.privacy.daily import window_bucket
from edge_sdk.privacy.scores import local_day
from edge_sdk.privacy.settings import PrivacySettings
from edge_sdk.settings import EdgeSettings
from edge_sdk.sync_client.http import HttpTransport
from edge_sdk.sync_client.transport import (
    ENROLL_PATH,
    REFRESH_PATH,
    SYNC_PATH,
    TransportRequest,
    TransportResponse,
)
from sync.codec import decode_envelope, decode_mutation, media_type_of
from sync.messages import ConsentScope, SetConsent, SubmitAggregate
from tests.integration.scenarios.devices import DAY_MS, ManualClock
from tests.support.live_server import LiveServer

SESSIONS = max(12, PrivacySettings().min_windows + 2)
AGGREGATE_FIELDS = {
    "type",
    "seq",
    "created_at",
    "day",
    "tz_offset_min",
    "window_bucket",
    "levels",
    "mechanism",
    "model_version",
}
"""Every key a ``SubmitAggregate`` may carry on the wire: a day's summary, nothing per window."""


@dataclass(slots=True)
class RecordingTransport:
    """The real HTTP transport, keeping every request the server was sent."""

    inner: HttpTransport
    requests: list[TransportRequest] = field(default_factory=list)

    def send(self, request: TransportRequest) -> TransportResponse:
        self.requests.append(request)
        return self.inner.send(request)

    def close(self) -> None:
        self.inner.close()


def offset_for_local_evening(now_ms: int) -> int:
    """A UTC offset (minutes, -720..719) at which ``now_ms`` is between 18:00 and 18:01 local."""
    utc_minute = (now_ms // 60_000) % 1440
    return (18 * 60 - utc_minute + 720) % 1440 - 720


def pushed_mutations(requests: list[TransportRequest]) -> list[tuple[type, dict[str, Any]]]:
    """Every mutation of every ``/v1/sync`` body sent: its type and its raw decoded fields."""
    out: list[tuple[type, dict[str, Any]]] = []
    for request in requests:
        assert request.path in {ENROLL_PATH, REFRESH_PATH, SYNC_PATH}, request.path
        if request.path != SYNC_PATH:
            continue
        media = media_type_of(request.content_type)
        assert media is not None
        for raw in decode_envelope(request.body, media).push:
            fields = msgspec.json.decode(raw) if media.value.endswith("json") else msgspec.msgpack.decode(raw)
            out.append((type(decode_mutation(raw, media)), fields))
    return out


@pytest.fixture
def transport(scenario_server: LiveServer) -> Iterator[RecordingTransport]:
    recording = RecordingTransport(HttpTransport(scenario_server.base_url, timeout_s=10.0))
    yield recording
    recording.close()  # a client given a transport leaves closing it to its owner


def test_two_days_of_events_become_one_private_daily_aggregate(
    scenario_server: LiveServer, transport: RecordingTransport, tmp_path: Path
) -> None:
    clock = ManualClock()
    offset = offset_for_local_evening(clock())
    today = local_day(clock(), offset)
    yesterday = local_day(clock() - DAY_MS, offset)
    rng = np.random.default_rng(3)
    days = {
        yesterday: simulate_day(rng, yesterday, offset, sessions=SESSIONS),
        today: simulate_day(rng, today, offset, sessions=SESSIONS, last_hour=17.0),
    }
    assert all(s.end_ms < clock() for sessions in days.values() for s in sessions)

    settings = EdgeSettings(
        base_url=scenario_server.base_url,
        db_path=tmp_path / "phone.db",
        clock_ms=clock,
        random=random.Random(7).random,
        timeout_s=10.0,
    )
    privacy = PrivacySettings(tz_offset_min=lambda _ms: offset, random=random.Random(11))
    user_id = scenario_server.create_user()
    with EdgeClient(settings, transport=transport, privacy=privacy) as phone:
        device_id = phone.enroll(scenario_server.enrollment_code(user_id))

        # Before the user grants inference, events are dropped unread.
        first = days[yesterday][0].events
        assert phone.record(first) == 0
        assert phone.capture_status().dropped_events == len(first)

        phone.set_consent(ConsentScope.INFERENCE, True)
        events = [e for sessions in days.values() for e in all_events(sessions)]
        assert sum(phone.record(batch) for batch in batches(events)) == len(events)
        report = phone.process()
        assert (report.windows, report.stored, report.skipped) == (2 * SESSIONS, 2 * SESSIONS, 0)
        stored_days = Counter(local_day(s.end_ms, offset) for s in phone.window_scores())
        assert stored_days == {yesterday: SESSIONS, today: SESSIONS}

        # Without share_aggregates the real gate holds everything back.
        held = phone.release_daily_aggregates()
        assert held.consent_missing and held.released == []

        phone.set_consent(ConsentScope.SHARE_AGGREGATES, True)
        released = phone.release_daily_aggregates()
        assert [r.day for r in released.released] == [yesterday]  # today is not complete
        assert phone.sync().ok
        assert phone.status().pending == 0
        ledger = phone.privacy_ledger()
        assert [(e.day, e.status, e.epsilon) for e in ledger.entries] == [
            (yesterday, "released", privacy.epsilon_per_day)
        ]

    # The cloud holds exactly one aggregate, for the completed day, with the mechanism it was drawn by.
    view = scenario_server.user_view(user_id)
    assert view["consent"] == {"inference": True, "share_aggregates": True, "push": False}
    (aggregate,) = view["aggregates"]
    model_version = msgspec.json.decode((committed_model_dir() / MANIFEST_FILE).read_bytes())["model_version"]
    assert (aggregate["device_id"], aggregate["day"], aggregate["tz_offset_min"]) == (
        device_id,
        yesterday,
        offset,
    )
    assert aggregate["window_bucket"] == window_bucket(SESSIONS)
    assert aggregate["model_version"] == model_version
    defaults = PrivacySettings()
    mechanism = aggregate["mechanism"]
    assert mechanism["name"] == "k_rr"
    for name, k, epsilon in zip(
        ("stress", "valence", "arousal"), defaults.field_levels(), defaults.field_epsilons(), strict=True
    ):
        assert mechanism[name] == {"k": k, "epsilon": pytest.approx(epsilon)}
        assert 0 <= aggregate["levels"][name] < k

    # The analytics endpoint sees one reported day for the user.
    response = scenario_server.admin.get(f"/v1/admin/users/{user_id}/stress", params={"as_of": today})
    assert response.status_code == 200, response.text
    estimate = response.json()["estimate"]
    assert estimate["n_days"] == 1
    assert estimate["recent_day"] == yesterday
    assert 0.0 <= estimate["lower"] <= estimate["posterior_mean"] <= estimate["upper"] <= 1.0

    # Nothing but consent and that one aggregate left the device: no event, window or score.
    pushed = pushed_mutations(transport.requests)
    assert Counter(kind for kind, _ in pushed) == {SetConsent: 2, SubmitAggregate: 1}
    for kind, fields in pushed:
        if kind is SubmitAggregate:
            assert set(fields) == AGGREGATE_FIELDS
            assert set(fields["levels"]) == {"stress", "valence", "arousal"}
            assert all(isinstance(v, int) for v in fields["levels"].values())
