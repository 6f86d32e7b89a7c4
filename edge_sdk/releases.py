"""Installing a signed model release (spec §5.9) on the device.

The cloud announces releases as ``ModelRelease`` changes; :class:`ModelUpdater` installs the newest
one announced, checking in this order and stopping at the first failure, with the model that was
serving still serving:

1. a release key is pinned, the release's signature verifies under it, its number is above the
   release the device runs, its feature spec is the SDK's (:class:`ReleaseRefused`; nothing is
   downloaded);
2. the fetched ``manifest.json`` has the signed SHA-256 and model version (:class:`ReleaseRefused`);
3. the model file the manifest names for the device's variant passes the loader's checks (hash,
   signature, probe: the :class:`~edge_sdk.inference.errors.ModelError` of the failed one).

Only then is the model swapped in and the release recorded with its files, so it survives a
restart.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Final, Literal

import msgspec

from edge_sdk.errors import TransportError
from edge_sdk.features.spec import FEATURE_SPEC_VERSION
from edge_sdk.inference.errors import ManifestInvalid, ModelDownloadFailed, ReleaseRefusal, ReleaseRefused
from edge_sdk.inference.loader import MANIFEST_FILE, ModelLoader
from edge_sdk.inference.manifest import sha256_hex
from edge_sdk.pipeline import EdgePipeline
from edge_sdk.store.local import InstalledModel, LocalStore
from edge_sdk.sync_client.transport import Transport, TransportRequest
from sync.messages import ModelRelease
from sync.releases import (
    ReleaseError,
    ReleaseFeatureSpecMismatch,
    ReleaseNotNewer,
    ReleaseUnsigned,
    check_release,
    manifest_of,
)

MAX_FILE_BYTES: Final = 32 * 1024 * 1024
"""Largest release file accepted (the models are kilobytes; a larger answer is refused)."""

_REFUSALS: Final[dict[type[ReleaseError], ReleaseRefusal]] = {
    ReleaseUnsigned: ReleaseRefusal.UNSIGNED,
    ReleaseNotNewer: ReleaseRefusal.NOT_NEWER,
    ReleaseFeatureSpecMismatch: ReleaseRefusal.FEATURE_SPEC_MISMATCH,
}


class ModelUpdate(msgspec.Struct, frozen=True, kw_only=True):
    """What :meth:`~edge_sdk.client.EdgeClient.update_model` did."""

    status: Literal["installed", "current", "none"]
    """``installed``: the announced release now serves; ``current``: it is the one running already;
    ``none``: no release was announced to this device."""
    release: int
    """The release the device runs (0: the model shipped with the app)."""
    model_version: str | None
    """The model version of that release (``None`` for the shipped model)."""


class ModelUpdater:
    """Installs the newest announced release; see the module docstring."""

    def __init__(
        self,
        store: LocalStore,
        transport: Transport,
        pipeline: EdgePipeline,
        *,
        access_token: Callable[[], str],
        release_dir: Path,
        clock_ms: Callable[[], int],
    ) -> None:
        self._store = store
        self._transport = transport
        self._pipeline = pipeline
        self._access_token = access_token
        self._dir = release_dir
        self._clock_ms = clock_ms

    def restore(self) -> None:
        """Serve the installed release (if any) from the next model load on, instead of the
        configured model; if its files fail the checks, forget it (the next update fetches it
        again) and serve the configured model."""
        installed = self._store.installed_model()
        if installed is not None:
            self._pipeline.use_installed(
                installed.folder, installed.variant, lambda _: self._store.clear_installed_model()
            )

    def update(self) -> ModelUpdate:
        installed = self._store.installed_model()
        running = 0 if installed is None else installed.release
        version = None if installed is None else installed.model_version
        announced = self._store.mirror_models()
        if not announced:
            return ModelUpdate(status="none", release=running, model_version=version)
        release = announced[0]
        if release.release == running:
            return ModelUpdate(status="current", release=running, model_version=version)
        self._check(release, running)
        manifest_bytes = self._fetch(release, MANIFEST_FILE)
        if sha256_hex(manifest_bytes) != release.sha256:
            raise ReleaseRefused(
                ReleaseRefusal.MANIFEST_MISMATCH,
                f"the manifest of release {release.release} does not have its signed SHA-256",
            )
        variant = self._pipeline.settings.model_variant
        manifest = ModelLoader().verify_manifest(manifest_bytes)
        if manifest.model_version != release.model_version:
            raise ReleaseRefused(
                ReleaseRefusal.MANIFEST_MISMATCH,
                f"release {release.release} signs model {release.model_version}, its manifest is"
                f" {manifest.model_version}",
            )
        file_name = manifest.file(variant).path
        if Path(file_name).name != file_name or file_name in ("", ".", ".."):
            raise ManifestInvalid(f"model file {file_name!r} must be a plain file name")
        model_bytes = self._fetch(release, file_name)
        # The files kept, then the loader's checks and the swap, then the record: a failure at any
        # step leaves the serving model and the installed release as they were (a folder kept
        # without its record is written over by the next update).
        folder = self._keep(release.release, {MANIFEST_FILE: manifest_bytes, file_name: model_bytes})
        try:
            self._pipeline.install_release(manifest_bytes, model_bytes, variant)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        self._store.set_installed_model(
            InstalledModel(
                release=release.release,
                model_version=release.model_version,
                variant=variant,
                folder=str(folder),
                installed_at=self._clock_ms(),
            )
        )
        self._forget_others(folder)
        return ModelUpdate(status="installed", release=release.release, model_version=release.model_version)

    def _check(self, release: ModelRelease, running: int) -> None:
        key = self._pipeline.settings.release_public_key
        if key is None:
            raise ReleaseRefused(
                ReleaseRefusal.KEY_MISSING,
                "no release public key is pinned (PipelineSettings.release_public_key): releases are refused",
            )
        try:
            check_release(
                key,
                manifest_of(release),
                release.signature,
                running_release=running,
                feature_spec_version=str(FEATURE_SPEC_VERSION),
            )
        except ReleaseError as exc:
            reason = _REFUSALS.get(type(exc), ReleaseRefusal.SIGNATURE_INVALID)
            raise ReleaseRefused(reason, str(exc)) from exc

    def _fetch(self, release: ModelRelease, name: str) -> bytes:
        path = f"{release.url.rstrip('/')}/{name}"
        if not path.startswith("/"):
            raise ModelDownloadFailed(
                f"release {release.release} is not served by the cloud: {release.url!r}"
            )
        try:
            response = self._transport.send(
                TransportRequest(path, b"", "application/octet-stream", self._access_token(), method="GET")
            )
        except TransportError as exc:
            raise ModelDownloadFailed(f"cannot fetch {path}: {exc}") from exc
        if response.status != 200:
            raise ModelDownloadFailed(f"fetching {path} was answered {response.status}", response.status)
        if len(response.body) > MAX_FILE_BYTES:
            raise ModelDownloadFailed(f"{path} is larger than {MAX_FILE_BYTES} bytes")
        return response.body

    def _keep(self, release: int, files: dict[str, bytes]) -> Path:
        """Write the files to a new folder, then move it in place: a crash leaves no half release."""
        self._dir.mkdir(parents=True, exist_ok=True)
        final = self._dir / str(release)
        staging = Path(tempfile.mkdtemp(prefix=f".{release}-", dir=self._dir))
        for name, body in files.items():
            (staging / name).write_bytes(body)
        if final.exists():
            shutil.rmtree(final)
        staging.rename(final)
        return final

    def _forget_others(self, keep: Path) -> None:
        for entry in self._dir.iterdir():
            if entry != keep and entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)


def default_release_dir(db_path: str | Path) -> Path:
    """``<store>.models`` next to the store file."""
    path = Path(db_path)
    return path.with_name(path.name + ".models")
