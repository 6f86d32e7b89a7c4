"""One real cloud server shared by the offline-first scenarios; each scenario makes its own users.

A scenario that sends aggregates grants ``share_aggregates`` first, through the protocol, as an app
does (``tests.support.consent.grant_share_aggregates``): the cloud stores none without the grant.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge_sdk.crashpoints import set_crash_hook
from tests.integration.scenarios.devices import Device, NewDevice
from tests.support.live_server import LiveServer


@pytest.fixture(scope="session")
def scenario_server(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with LiveServer(tmp_path_factory.mktemp("scenario-cloud"), redis_url) as server:
        yield server


@pytest.fixture(autouse=True)
def _no_crash_hook() -> Iterator[None]:
    """A scenario that installs a crash hook never leaks it into the next one."""
    yield
    set_crash_hook(None)


@pytest.fixture
def new_device(tmp_path: Path) -> Iterator[NewDevice]:
    """Makes :class:`Device` instances (``new_device(server, "phone", clock=...)``), closed at the end."""
    made: list[Device] = []

    def make(server: LiveServer, name: str, **options: Any) -> Device:
        device = Device(server, tmp_path / f"{name}.db", **options)
        made.append(device)
        return device

    yield make
    for device in made:
        device.close()
