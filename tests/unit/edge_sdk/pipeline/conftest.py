"""Fixtures for the pipeline tests: clients at a fixed UTC offset with a seeded mechanism, a clock
at noon of the day after the simulated one, and simulated days of events."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ecs.fleet.activity import Session, local_midnight_ms, simulate_day
from edge_sdk.client import EdgeClient
from edge_sdk.inference import MANIFEST_FILE, committed_model_dir
from edge_sdk.privacy.settings import PrivacySettings
from edge_sdk.settings import EdgeSettings, PipelineSettings
from sync.messages import ConsentScope
from tests.unit.edge_sdk.fakes import Clock, FakeCloud

OFFSET_MIN = 60
"""The devices here live at UTC+1."""
DAY = "2024-03-09"
"""The simulated day; the clock stands at noon of the next one, so it is complete."""
SESSIONS = max(12, PrivacySettings().min_windows + 2)
"""Sessions (= windows) per simulated day: enough for the day to be released at the defaults."""

MakeClient = Callable[..., EdgeClient]


@pytest.fixture
def clock() -> Clock:
    return Clock(local_midnight_ms("2024-03-10", OFFSET_MIN) + 12 * 3_600_000)


@pytest.fixture
def cloud(clock: Clock) -> FakeCloud:
    return FakeCloud(clock)


@pytest.fixture
def make_client(clock: Clock, cloud: FakeCloud, tmp_path: Path) -> Iterator[MakeClient]:
    clients: list[EdgeClient] = []

    def make(
        path: Path | None = None, *, pipeline: PipelineSettings | None = None, **privacy: Any
    ) -> EdgeClient:
        privacy.setdefault("tz_offset_min", lambda _ms: OFFSET_MIN)
        privacy.setdefault("random", random.Random(7))
        settings = EdgeSettings(
            base_url="http://cloud.test",
            db_path=path or tmp_path / "edge.db",
            clock_ms=clock,
            random=lambda: 0.5,
        )
        client = EdgeClient(settings, transport=cloud, privacy=PrivacySettings(**privacy), pipeline=pipeline)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def consenting(make_client: MakeClient) -> EdgeClient:
    """A client whose user granted ``inference`` (pending, not yet synced)."""
    client = make_client()
    client.set_consent(ConsentScope.INFERENCE, True)
    return client


@pytest.fixture(scope="session")
def day() -> list[Session]:
    """One simulated day of use (seeded): ``SESSIONS`` sessions, one window each."""
    return simulate_day(np.random.default_rng(20240309), DAY, OFFSET_MIN, sessions=SESSIONS)


@pytest.fixture(scope="session")
def model_version() -> str:
    version: str = json.loads((committed_model_dir() / MANIFEST_FILE).read_bytes())["model_version"]
    return version
