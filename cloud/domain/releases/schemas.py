"""Request and response bodies of the model-release endpoints."""

from __future__ import annotations

from typing import Annotated

import msgspec

from sync.messages import ReleaseSignature
from sync.releases import ReleaseManifest

FILE_NAME_PATTERN = r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$"
"""A plain file name: no folder, not hidden."""
FileName = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=FILE_NAME_PATTERN)]


class PublishRelease(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A release signed offline (the ``release.json`` of ``ecs models sign``) and its files."""

    manifest: ReleaseManifest
    signature: ReleaseSignature
    files: dict[FileName, bytes]
    """``manifest.json`` and every model file it names, by name (base64 in JSON)."""


class SetRollout(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    percent: Annotated[float, msgspec.Meta(ge=0.0, le=100.0)]
    """Share of users the release is for (two decimals count); it may only grow."""


class ReleaseOut(msgspec.Struct, kw_only=True):
    release: int
    model_version: str
    feature_spec_version: str
    sha256: str
    """SHA-256 of the release's ``manifest.json``."""
    signature: str
    rollout_percent: float
    url: str
    """Where devices fetch the files, under the API's base URL."""
    files: list[str]
    devices: int
    """Devices (not revoked) whose last sync reported this release's model version."""
    created_at: int
    created_by: str
    rolled_out_at: int | None
    rolled_out_by: str | None


class ReleasesOut(msgspec.Struct, kw_only=True):
    releases: list[ReleaseOut]
    """Newest first."""
