"""Failures of feature extraction, one named exception each."""

from __future__ import annotations

from edge_sdk.errors import EdgeError


class FeatureError(EdgeError):
    """Base of the errors :mod:`edge_sdk.features` raises."""


class InvalidTzOffset(FeatureError, ValueError):
    """A UTC offset is not an integer number of minutes in -840..840 (UTC-14 to UTC+14)."""
