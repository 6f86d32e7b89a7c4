"""The device-fleet simulator: simulated phones living simulated days through ``mobile_bridge``
against a running cloud (:func:`simulate`; ``ecs simulate``)."""

from ecs.fleet.run import FleetConfig, FleetError, FleetSummary, simulate

__all__ = ["FleetConfig", "FleetError", "FleetSummary", "simulate"]
