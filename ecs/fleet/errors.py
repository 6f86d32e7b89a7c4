"""The fleet's failures: the run cannot go on and ``ecs`` exits 1 with the message."""

from __future__ import annotations

from typing import Any


class FleetError(RuntimeError):
    """The run could not go on (the cloud refused or did not answer an operator call, a phone failed)."""


class PhoneError(FleetError):
    """A bridge call answered an error the simulated host did not expect."""

    def __init__(self, phone: str, method: str, error: dict[str, Any]) -> None:
        super().__init__(f"{phone}: {method} -> {error.get('code')}: {error.get('message')}")
        self.error = error
