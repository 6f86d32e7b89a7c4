"""Failures of the privacy layer, one named exception each (all are :class:`~edge_sdk.errors.EdgeError`)."""

from __future__ import annotations

from edge_sdk.errors import EdgeError, InvalidMutation


class ConsentRequired(EdgeError):
    """The operation needs a consent scope the user has not granted; nothing was stored or queued.

    ``scope`` names the missing scope (``inference`` or ``share_aggregates``).
    """

    def __init__(self, scope: str) -> None:
        super().__init__(f"consent scope {scope!r} is not granted")
        self.scope = scope


class InvalidWindowScores(InvalidMutation):
    """A window score is malformed or out of range; nothing of the batch was stored."""


class InvalidPrivacySettings(EdgeError, ValueError):
    """A :class:`~edge_sdk.privacy.settings.PrivacySettings` value is out of range."""


class InvalidTzOffset(InvalidMutation):
    """A UTC offset (passed, or returned by ``PrivacySettings.tz_offset_min``) outside -840..840 minutes."""
