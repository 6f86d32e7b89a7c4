"""Installing signed model releases (spec §5.9) on the SDK: every check refuses with its named error
before the model changes, nothing is fetched before the signature, number and feature spec pass,
and an installed release survives a restart."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge_sdk.client import EdgeClient
from edge_sdk.errors import InvalidSettings
from edge_sdk.inference.errors import (
    ManifestInvalid,
    ModelDownloadFailed,
    ModelError,
    ModelHashMismatch,
    ReleaseRefusal,
    ReleaseRefused,
)
from edge_sdk.inference.loader import MANIFEST_FILE, committed_model_dir
from edge_sdk.inference.manifest import decode_manifest, encode_manifest
from edge_sdk.settings import EdgeSettings, PipelineSettings
from edge_sdk.store.local import InstalledModel
from sync.messages import ConsentScope, ModelRelease
from sync.releases import SignedRelease, public_key_text, sign_release
from tests.support.releases import release_folder, sign_folder
from tests.unit.edge_sdk.fakes import Clock, FakeCloud

KEY = Ed25519PrivateKey.generate()
OTHER_KEY = Ed25519PrivateKey.generate()
SHIPPED = "emotion-v1.0.0"
MODEL_FILE = "emotion-v1.tflite"


@dataclass
class Phone:
    cloud: FakeCloud
    tmp: Path
    make: Callable[..., EdgeClient]

    def announce(
        self,
        release: int,
        model_version: str,
        *,
        signed: SignedRelease | None = None,
        serve: dict[str, bytes] | None = None,
        feature_spec_version: str | None = None,
    ) -> ModelRelease:
        """Put a release's files on the cloud and its change in the user's log."""
        folder = release_folder(self.tmp / f"r{release}-{model_version}", model_version)
        signed = signed or sign_folder(KEY, release, folder, feature_spec_version=feature_spec_version)
        url = f"/v1/models/{release}"
        files = {name: (folder / name).read_bytes() for name in (MANIFEST_FILE, MODEL_FILE)}
        files.update(serve or {})
        for name, body in files.items():
            self.cloud.files[f"{url}/{name}"] = body
        m = signed.manifest
        change = ModelRelease(
            version=1,  # replaced by the cloud's
            release=m.release,
            model_version=m.model_version,
            feature_spec_version=m.feature_spec_version,
            sha256=m.sha256,
            url=url,
            signature=signed.signature,
        )
        self.cloud.append_change("u1", change)
        return change

    def fetches(self) -> list[str]:
        return [r.path for r in self.cloud.requests if r.method == "GET"]


@pytest.fixture
def phone(tmp_path: Path) -> Iterator[Phone]:
    cloud = FakeCloud(Clock())
    clients: list[EdgeClient] = []

    def make(key: str | None = public_key_text(KEY), db: str = "edge.db") -> EdgeClient:
        settings = EdgeSettings(base_url="http://cloud.test", db_path=tmp_path / db, clock_ms=cloud.clock)
        client = EdgeClient(settings, transport=cloud, pipeline=PipelineSettings(release_public_key=key))
        clients.append(client)
        return client

    yield Phone(cloud, tmp_path, make)
    for client in clients:
        client.close()


def started(phone: Phone, key: str | None = public_key_text(KEY)) -> EdgeClient:
    client = phone.make(key)
    client.enroll(phone.cloud.new_code("u1"))
    client.set_consent(ConsentScope.INFERENCE, True)
    client.process()  # loads the shipped model
    assert client.capture_status().model_version == SHIPPED
    return client


def test_a_signed_newer_release_is_installed_and_survives_a_restart(phone: Phone) -> None:
    client = started(phone)
    assert client.update_model().status == "none"
    phone.announce(1, "emotion-v1.0.1")
    client.sync()
    assert [r.release for r in client.model_releases()] == [1]

    update = client.update_model()

    assert (update.status, update.release, update.model_version) == ("installed", 1, "emotion-v1.0.1")
    assert client.capture_status().model_version == "emotion-v1.0.1"
    assert phone.fetches() == ["/v1/models/1/manifest.json", f"/v1/models/1/{MODEL_FILE}"]
    assert client.update_model().status == "current"
    client.sync()
    client.close()

    again = phone.make()
    again.set_consent(ConsentScope.INFERENCE, True)
    again.process()
    assert again.capture_status().model_version == "emotion-v1.0.1"
    assert again.update_model().status == "current"


def test_the_device_reports_the_model_it_serves(phone: Phone) -> None:
    client = started(phone)
    client.sync()
    body = phone.cloud.sync_requests()[-1].body
    assert msgspec.msgpack.decode(body)["model_version"] == SHIPPED


def test_a_rollback_is_a_newer_release_carrying_the_older_model(phone: Phone) -> None:
    client = started(phone)
    phone.announce(1, "emotion-v1.0.1")
    client.sync()
    client.update_model()
    phone.announce(2, SHIPPED)
    client.sync()
    update = client.update_model()
    assert (update.status, update.release, update.model_version) == ("installed", 2, SHIPPED)
    assert client.capture_status().model_version == SHIPPED
    kept = sorted(p.name for p in (phone.tmp / "edge.db.models").iterdir())
    assert kept == ["2"]  # the older release's files are gone


def _v101(phone: Phone, name: str) -> Path:
    return release_folder(phone.tmp / name, "emotion-v1.0.1")


def _unsigned(phone: Phone) -> SignedRelease:
    return msgspec.structs.replace(sign_folder(KEY, 1, _v101(phone, "u")), signature="")


def _by_another_key(phone: Phone) -> SignedRelease:
    return sign_folder(OTHER_KEY, 1, _v101(phone, "o"))


def _garbled(phone: Phone) -> SignedRelease:
    return msgspec.structs.replace(sign_folder(KEY, 1, _v101(phone, "g")), signature="not a signature!")


def _relabelled(phone: Phone) -> SignedRelease:
    # The signature over release 1, carried by a change that says release 9.
    signed = sign_folder(KEY, 1, _v101(phone, "r"))
    return msgspec.structs.replace(signed, manifest=msgspec.structs.replace(signed.manifest, release=9))


REFUSED_BEFORE_FETCHING: list[tuple[str, dict[str, object], ReleaseRefusal]] = [
    ("no pinned key", {"key": None}, ReleaseRefusal.KEY_MISSING),
    ("unsigned", {"signed": _unsigned}, ReleaseRefusal.UNSIGNED),
    ("signed by another key", {"signed": _by_another_key}, ReleaseRefusal.SIGNATURE_INVALID),
    ("not base64", {"signed": _garbled}, ReleaseRefusal.SIGNATURE_INVALID),
    ("a signed field changed", {"signed": _relabelled}, ReleaseRefusal.SIGNATURE_INVALID),
    ("another feature spec", {"feature_spec_version": "features-v9"}, ReleaseRefusal.FEATURE_SPEC_MISMATCH),
]


@pytest.mark.parametrize(
    ("given", "reason"),
    [c[1:] for c in REFUSED_BEFORE_FETCHING],
    ids=[c[0] for c in REFUSED_BEFORE_FETCHING],
)
def test_a_release_refused_before_fetching_leaves_the_serving_model(
    phone: Phone, given: dict[str, object], reason: ReleaseRefusal
) -> None:
    client = started(phone, key=given.get("key", public_key_text(KEY)))  # type: ignore[arg-type]
    make_signed = given.get("signed")
    signed = make_signed(phone) if callable(make_signed) else None
    spec = given.get("feature_spec_version")
    phone.announce(1, "emotion-v1.0.1", signed=signed, feature_spec_version=spec)  # type: ignore[arg-type]
    client.sync()

    with pytest.raises(ReleaseRefused) as refused:
        client.update_model()

    assert refused.value.reason is reason
    assert phone.fetches() == []
    assert client.capture_status().model_version == SHIPPED
    assert client.store.installed_model() is None


def test_a_release_not_above_the_running_one_is_refused(phone: Phone) -> None:
    client = started(phone)
    client.store.set_installed_model(
        InstalledModel(
            release=5,
            model_version=SHIPPED,
            variant="float",
            folder=str(committed_model_dir()),
            installed_at=1,
        )
    )
    phone.announce(4, "emotion-v1.0.1")
    client.sync()
    with pytest.raises(ReleaseRefused) as refused:
        client.update_model()
    assert refused.value.reason is ReleaseRefusal.NOT_NEWER
    assert phone.fetches() == []


def _manifest_of(model_version: str) -> Callable[[Phone], dict[str, bytes]]:
    def serve(phone: Phone) -> dict[str, bytes]:
        return {MANIFEST_FILE: (release_folder(phone.tmp / "m", model_version) / MANIFEST_FILE).read_bytes()}

    return serve


def _claiming_another_version(phone: Phone) -> SignedRelease:
    # Signed, with the manifest's true SHA-256, but naming another model version.
    signed = sign_folder(KEY, 1, _v101(phone, "c"))
    return sign_release(KEY, msgspec.structs.replace(signed.manifest, model_version="emotion-v1.0.7"))


def _zeroed_model(phone: Phone) -> dict[str, bytes]:
    return {MODEL_FILE: b"\x00" * 64}


REFUSED_AFTER_FETCHING: list[tuple[str, dict[str, object], type[ModelError], ReleaseRefusal | None]] = [
    ("another manifest served", {"serve": _manifest_of("emotion-v1.0.2")}, ReleaseRefused,
     ReleaseRefusal.MANIFEST_MISMATCH),
    ("the signature names another model version", {"signed": _claiming_another_version}, ReleaseRefused,
     ReleaseRefusal.MANIFEST_MISMATCH),
    ("a tampered model file", {"serve": _zeroed_model}, ModelHashMismatch, None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("given", "error", "reason"),
    [c[1:] for c in REFUSED_AFTER_FETCHING],
    ids=[c[0] for c in REFUSED_AFTER_FETCHING],
)
def test_a_release_whose_files_fail_their_checks_leaves_the_serving_model(
    phone: Phone, given: dict[str, object], error: type[ModelError], reason: ReleaseRefusal | None
) -> None:
    client = started(phone)
    serve = given.get("serve")
    make_signed = given.get("signed")
    phone.announce(
        1,
        "emotion-v1.0.1",
        serve=serve(phone) if callable(serve) else None,
        signed=make_signed(phone) if callable(make_signed) else None,
    )
    client.sync()

    with pytest.raises(error) as refused:
        client.update_model()

    if reason is not None:
        assert isinstance(refused.value, ReleaseRefused) and refused.value.reason is reason
    assert client.capture_status().model_version == SHIPPED
    assert client.store.installed_model() is None
    assert not (phone.tmp / "edge.db.models" / "1").exists()


@pytest.mark.parametrize("path", ["../x.tflite", "a/b.tflite", ""])
def test_a_manifest_naming_a_file_outside_its_folder_is_refused_before_fetching_it(
    phone: Phone, path: str
) -> None:
    client = started(phone)
    folder = release_folder(phone.tmp / "p", "emotion-v1.0.1")
    manifest = decode_manifest((folder / MANIFEST_FILE).read_bytes())
    moved = msgspec.structs.replace(manifest.files[0], path=path)
    spoiled = msgspec.structs.replace(manifest, files=(moved, *manifest.files[1:]))
    (folder / MANIFEST_FILE).write_bytes(encode_manifest(spoiled))
    phone.announce(1, "emotion-v1.0.1", signed=sign_folder(KEY, 1, folder),
                   serve={MANIFEST_FILE: (folder / MANIFEST_FILE).read_bytes()})  # fmt: skip
    client.sync()
    with pytest.raises(ManifestInvalid):
        client.update_model()
    assert phone.fetches() == ["/v1/models/1/manifest.json"]
    assert client.capture_status().model_version == SHIPPED


def test_a_file_the_cloud_cannot_serve_is_a_download_failure(phone: Phone) -> None:
    client = started(phone)
    phone.announce(1, "emotion-v1.0.1")
    del phone.cloud.files[f"/v1/models/1/{MODEL_FILE}"]
    client.sync()
    with pytest.raises(ModelDownloadFailed) as failed:
        client.update_model()
    assert failed.value.status == 404
    assert client.capture_status().model_version == SHIPPED


def test_installed_files_changed_on_disk_fall_back_to_the_shipped_model(phone: Phone) -> None:
    client = started(phone)
    phone.announce(1, "emotion-v1.0.1")
    client.sync()
    client.update_model()
    client.close()
    (phone.tmp / "edge.db.models" / "1" / MODEL_FILE).write_bytes(b"\x00" * 64)

    again = phone.make()
    again.set_consent(ConsentScope.INFERENCE, True)
    again.process()

    assert again.capture_status().model_version == SHIPPED
    assert again.store.installed_model() is None  # forgotten: the next update fetches it again
    assert again.update_model().status == "installed"


@pytest.mark.parametrize("key", ["", "short", "A" * 44, "é" * 44, public_key_text(KEY)[:-4]])
def test_a_malformed_release_key_is_refused_at_settings(key: str) -> None:
    with pytest.raises(InvalidSettings):
        PipelineSettings(release_public_key=key)
