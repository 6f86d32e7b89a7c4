"""Devices for the scenarios: EdgeClients on real SQLite files over the real httpx transport.

:class:`CountingTransport` wraps :class:`HttpTransport` to count the requests that reach the
server and to take the device offline (every request then fails as with no network).
"""

from __future__ import annotations

import random
import shutil
import sqlite3
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_sdk.client import EdgeClient
from edge_sdk.errors import TransportError
from edge_sdk.settings import EdgeSettings, wall_clock_ms
from edge_sdk.sync_client.engine import ReenrollProvider
from edge_sdk.sync_client.http import HttpTransport
from edge_sdk.sync_client.transport import TransportRequest, TransportResponse
from sync.messages import FieldMechanism, Levels, Mechanism
from tests.support.live_server import LiveServer, day_of

DAY_MS = 24 * 3600 * 1000


class ManualClock:
    """A device clock that starts at the real time and moves only when told."""

    def __init__(self) -> None:
        self.now_ms = wall_clock_ms()

    def __call__(self) -> int:
        return self.now_ms

    def advance(self, ms: int) -> None:
        self.now_ms += ms


@dataclass(slots=True)
class CountingTransport:
    """The real HTTP transport, with a switch for the network and a count of delivered requests."""

    inner: HttpTransport
    online: bool = True
    delivered: Counter[str] = field(default_factory=Counter)
    refused: int = 0
    """Requests attempted while offline."""
    on_delivered: Callable[[TransportRequest], None] | None = None
    """Called after a request reached the server; raising here loses the reply."""

    def send(self, request: TransportRequest) -> TransportResponse:
        if not self.online:
            self.refused += 1
            raise TransportError("offline")
        response = self.inner.send(request)
        self.delivered[request.path] += 1
        if self.on_delivered is not None:
            self.on_delivered(request)
        return response

    def close(self) -> None:
        self.inner.close()


def aggregate(index: int, variant: int = 0) -> dict[str, Any]:
    """Keyword arguments of ``submit_aggregate`` for day ``index``; ``variant`` changes the content."""
    field_mechanism = FieldMechanism(k=4, epsilon=0.5 + variant)
    return {
        "day": day_of(index),
        "tz_offset_min": 60,
        "window_bucket": index % 4,
        "levels": Levels(stress=index % 4, valence=(index + variant) % 4, arousal=variant % 4),
        "mechanism": Mechanism(stress=field_mechanism, valence=field_mechanism, arousal=field_mechanism),
        "model_version": f"m{variant}",
    }


@dataclass(slots=True)
class Device:
    """One app install: its store file, clock and transport survive client restarts."""

    server: LiveServer
    path: Path
    clock: ManualClock | None = None
    reenroll: ReenrollProvider | None = None
    locale: str | None = None
    transport: CountingTransport = field(init=False)
    client: EdgeClient = field(init=False)

    def __post_init__(self) -> None:
        self.transport = CountingTransport(HttpTransport(self.server.base_url, timeout_s=10.0))
        self.client = self._open()

    def _open(self) -> EdgeClient:
        settings = EdgeSettings(
            base_url=self.server.base_url,
            db_path=self.path,
            clock_ms=self.clock or wall_clock_ms,
            random=random.Random(7).random,
            timeout_s=10.0,
            locale=self.locale,
        )
        return EdgeClient(settings, transport=self.transport, reenroll=self.reenroll)

    def restart(self) -> None:
        """Close the client and open the same file again (the app was restarted)."""
        self.client.close()
        self.client = self._open()

    def backup(self, target: Path) -> None:
        """Copy the store as a phone backup would, while the app keeps running."""
        source = sqlite3.connect(self.path)
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            copy.close()
            source.close()

    def restore(self, backup: Path) -> None:
        """Put an older copy of the store in place (a restored phone backup) and start the app."""
        self.client.close()
        for suffix in ("-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(backup, self.path)
        self.client = self._open()

    def close(self) -> None:
        self.client.close()
        self.transport.close()


NewDevice = Callable[..., Device]
"""The ``new_device`` fixture: ``new_device(server, name, clock=..., reenroll=...)``."""


def days_stored(view: dict[str, Any], device_id: str | None = None) -> Counter[str]:
    """How many times each day is stored, for one device or for all of the user's devices."""
    return Counter(a["day"] for a in view["aggregates"] if device_id is None or a["device_id"] == device_id)


def assert_aggregate_stored(view: dict[str, Any], device_id: str, index: int, variant: int = 0) -> None:
    """The aggregate of ``aggregate(index, variant)`` is stored for ``device_id``, field by field."""
    expected = aggregate(index, variant)
    rows = [a for a in view["aggregates"] if a["device_id"] == device_id and a["day"] == expected["day"]]
    assert len(rows) == 1, f"{expected['day']} stored {len(rows)} times for {device_id}"
    row = rows[0]
    assert row["tz_offset_min"] == expected["tz_offset_min"]
    assert row["window_bucket"] == expected["window_bucket"]
    assert row["levels"] == {
        "stress": expected["levels"].stress,
        "valence": expected["levels"].valence,
        "arousal": expected["levels"].arousal,
    }
    assert row["mechanism"]["stress"] == {"k": 4, "epsilon": 0.5 + variant}
    assert row["model_version"] == expected["model_version"]
