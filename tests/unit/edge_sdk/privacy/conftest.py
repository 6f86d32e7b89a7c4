"""Fixtures for the privacy tests: clients with a seeded mechanism, a fixed UTC offset and a clock
set to a known local time; helpers that build days of window scores."""

from __future__ import annotations

import datetime
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edge_sdk.client import EdgeClient
from edge_sdk.privacy.scores import WindowScore
from edge_sdk.privacy.settings import PrivacySettings
from edge_sdk.settings import EdgeSettings
from sync.messages import ConsentScope
from tests.unit.edge_sdk.fakes import Clock, FakeCloud

DAY_MS = 86_400_000
OFFSET_MIN = 60
"""The devices here live at UTC+1."""

PrivateClient = Callable[..., EdgeClient]


def day_start_ms(day: str, offset_min: int = OFFSET_MIN) -> int:
    """Epoch ms of local midnight starting ``day`` at UTC``+offset_min``."""
    midnight = datetime.datetime.fromisoformat(day).replace(tzinfo=datetime.UTC)
    return int(midnight.timestamp() * 1000) - offset_min * 60_000


def windows(
    day: str,
    n: int,
    *,
    stress: float = 0.9,
    valence: float = -0.8,
    arousal: float = 0.0,
    model: str = "m-1",
    first_minute: int = 8 * 60,
) -> list[WindowScore]:
    """``n`` one-minute windows of ``day`` (local), from ``first_minute`` after midnight."""
    start = day_start_ms(day) + first_minute * 60_000
    return [
        WindowScore(
            end_ms=start + (i + 1) * 60_000,
            stress_prob=stress,
            valence=valence,
            arousal=arousal,
            model_version=model,
        )
        for i in range(n)
    ]


@pytest.fixture
def clock() -> Clock:
    # Noon on 2024-03-10 at UTC+1: days up to 2024-03-09 are complete.
    return Clock(day_start_ms("2024-03-10") + 12 * 3_600_000)


@pytest.fixture
def cloud(clock: Clock) -> FakeCloud:
    return FakeCloud(clock)


@pytest.fixture
def make_private(clock: Clock, cloud: FakeCloud, tmp_path: Path) -> Iterator[PrivateClient]:
    clients: list[EdgeClient] = []

    def make(path: Path | None = None, seed: int = 7, **privacy: Any) -> EdgeClient:
        privacy.setdefault("tz_offset_min", lambda _ms: OFFSET_MIN)
        privacy.setdefault("random", random.Random(seed))
        settings = EdgeSettings(
            base_url="http://cloud.test",
            db_path=path or tmp_path / "edge.db",
            clock_ms=clock,
            random=lambda: 0.5,
        )
        client = EdgeClient(settings, transport=cloud, privacy=PrivacySettings(**privacy))
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def consenting(make_private: PrivateClient) -> EdgeClient:
    """A client whose user granted inference and share_aggregates (pending, not yet synced)."""
    client = make_private()
    client.set_consent(ConsentScope.INFERENCE, True)
    client.set_consent(ConsentScope.SHARE_AGGREGATES, True)
    return client
