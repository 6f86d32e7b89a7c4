"""The device-fleet simulator: simulated phones living simulated days through ``mobile_bridge``
against a running cloud (:func:`simulate`; ``ecs simulate``)."""

from ecs.fleet.errors import FleetError, PhoneError
from ecs.fleet.run import FleetConfig, FleetSummary, simulate

__all__ = ["FleetConfig", "FleetError", "FleetSummary", "PhoneError", "simulate"]
