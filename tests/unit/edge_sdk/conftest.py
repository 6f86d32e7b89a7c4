"""Fixtures for edge SDK unit tests: a settable clock, the fake cloud, clients on real SQLite files."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edge_sdk.client import EdgeClient
from edge_sdk.crashpoints import set_crash_hook
from edge_sdk.settings import EdgeSettings
from sync.messages import FieldMechanism, Levels, Mechanism
from tests.support.consent import grant_share_aggregates
from tests.unit.edge_sdk.fakes import Clock, FakeCloud

MakeClient = Callable[..., EdgeClient]


def aggregate(day: str, **overrides: Any) -> dict[str, Any]:
    """Keyword arguments of a valid ``submit_aggregate`` call."""
    field = FieldMechanism(k=4, epsilon=1.0)
    values: dict[str, Any] = {
        "day": day,
        "tz_offset_min": 60,
        "window_bucket": 3,
        "levels": Levels(stress=1, valence=2, arousal=3),
        "mechanism": Mechanism(stress=field, valence=field, arousal=field),
        "model_version": "m-1",
    }
    values.update(overrides)
    return values


def day_of(i: int) -> str:
    """A distinct valid day for every i in 0..(365*50)."""
    import datetime

    return (datetime.date(2024, 1, 1) + datetime.timedelta(days=i)).isoformat()


@pytest.fixture
def aggregates_consented() -> bool:
    """Whether each client ``make_client`` makes first grants ``share_aggregates`` through the
    protocol (tests/support/consent.py); a module whose every test sends aggregates turns it on.
    Off by default: a test that sends aggregates grants explicitly."""
    return False


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cloud(clock: Clock) -> FakeCloud:
    return FakeCloud(clock)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "edge.db"


@pytest.fixture
def make_client(
    clock: Clock, cloud: FakeCloud, db_path: Path, aggregates_consented: bool
) -> Iterator[MakeClient]:
    clients: list[EdgeClient] = []

    def make(
        path: Path | None = None, reenroll: Callable[[], str] | None = None, **overrides: Any
    ) -> EdgeClient:
        settings = EdgeSettings(
            base_url="http://cloud.test",
            db_path=path or db_path,
            clock_ms=clock,
            random=lambda: 0.5,
            **overrides,
        )
        client = EdgeClient(settings, transport=cloud, reenroll=reenroll)
        clients.append(client)
        if aggregates_consented:
            grant_share_aggregates(client)
        return client

    yield make
    set_crash_hook(None)
    for client in clients:
        # Closing twice is harmless: sqlite3 and the fake transport both allow it.
        client.close()


@pytest.fixture
def enrolled(make_client: MakeClient, cloud: FakeCloud) -> EdgeClient:
    client = make_client()
    client.enroll(cloud.new_code("u1"))
    return client
