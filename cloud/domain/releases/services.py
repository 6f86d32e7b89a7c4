"""Publishing and rolling out model releases, and serving their files to devices (spec §5.9)."""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from cloud.clock import now_ms
from cloud.domain.releases.errors import ReleaseInvalid
from cloud.domain.releases.rules import percent_to_bps, release_url
from cloud.domain.releases.schemas import PublishRelease, ReleaseOut, ReleasesOut
from cloud.store.errors import ReleaseNotFound
from cloud.store.protocol import Store
from cloud.store.records import ModelFileRecord, ModelReleaseRecord
from sync.releases import ReleaseError, check_signature_format, read_summary, sha256_hex

MANIFEST_FILE = "manifest.json"


def check_files(data: PublishRelease) -> None:
    """Refuse (:class:`ReleaseInvalid`) a release every device would refuse: unsigned, or whose files
    are not what its signed manifest says. The signature itself is the devices' to verify."""
    signed = data.manifest
    try:
        check_signature_format(data.signature)
    except ReleaseError as exc:
        raise ReleaseInvalid(str(exc)) from None
    manifest_bytes = data.files.get(MANIFEST_FILE)
    if manifest_bytes is None:
        raise ReleaseInvalid(f"the files must include {MANIFEST_FILE}")
    if sha256_hex(manifest_bytes) != signed.sha256:
        raise ReleaseInvalid(f"{MANIFEST_FILE} does not have the signed SHA-256")
    try:
        view = read_summary(manifest_bytes)
    except msgspec.DecodeError as exc:
        raise ReleaseInvalid(f"{MANIFEST_FILE} does not decode: {exc}") from None
    if (view.model_version, view.feature_spec_version) != (signed.model_version, signed.feature_spec_version):
        raise ReleaseInvalid(
            f"{MANIFEST_FILE} is model {view.model_version} on {view.feature_spec_version}, the signed"
            f" release says {signed.model_version} on {signed.feature_spec_version}"
        )
    named = {entry.path: entry.sha256 for entry in view.files}
    extra = sorted(set(data.files) - set(named) - {MANIFEST_FILE})
    if extra:
        raise ReleaseInvalid(f"files not named by {MANIFEST_FILE}: {', '.join(extra)}")
    for path, digest in sorted(named.items()):
        body = data.files.get(path)
        if body is None:
            raise ReleaseInvalid(f"{MANIFEST_FILE} names {path}, which is missing")
        if sha256_hex(body) != digest:
            raise ReleaseInvalid(f"{path} does not have the SHA-256 {MANIFEST_FILE} names")


def release_out(record: ModelReleaseRecord) -> ReleaseOut:
    return ReleaseOut(
        release=record.release,
        model_version=record.model_version,
        feature_spec_version=record.feature_spec_version,
        sha256=record.sha256,
        signature=record.signature,
        rollout_percent=record.rollout_bps / 100,
        url=release_url(record.release),
        files=list(record.files),
        devices=record.devices,
        created_at=record.created_at,
        created_by=record.created_by,
        rolled_out_at=record.rolled_out_at,
        rolled_out_by=record.rolled_out_by,
    )


class ReleaseService:
    def __init__(self, store: Store, clock: Callable[[], int] = now_ms) -> None:
        self._store = store
        self._clock = clock

    async def publish(self, data: PublishRelease, *, actor: str, address: str | None) -> ReleaseOut:
        """Store a signed release, rolled out to nobody yet."""
        check_files(data)
        signed = data.manifest
        record = ModelReleaseRecord(
            release=signed.release,
            model_version=signed.model_version,
            feature_spec_version=signed.feature_spec_version,
            sha256=signed.sha256,
            signature=data.signature,
            rollout_bps=0,
            created_at=self._clock(),
            created_by=actor,
        )
        files = [ModelFileRecord(name=n, sha256=sha256_hex(b), body=b) for n, b in sorted(data.files.items())]
        return release_out(await self._store.publish_release(record, files, address=address))

    async def rollout(self, release: int, percent: float, *, actor: str, address: str | None) -> ReleaseOut:
        """Widen the release's rollout; it reaches each user at their devices' next sync."""
        bps = percent_to_bps(percent)
        return release_out(
            await self._store.set_rollout(release, bps, actor=actor, address=address, now=self._clock())
        )

    async def releases(self) -> ReleasesOut:
        return ReleasesOut(releases=[release_out(r) for r in await self._store.model_releases()])

    async def file(self, release: int, name: str) -> ModelFileRecord:
        """A release's file for a device; :class:`ReleaseNotFound` for an unknown one."""
        found = await self._store.model_file(release, name)
        if found is None:
            raise ReleaseNotFound(f"release {release} has no file {name!r}")
        return found
