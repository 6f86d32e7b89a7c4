"""``updateModel`` through the bridge: the pinned key from ``open``, a refusal as a named error with
its reason, an installed release as the result (spec §5.9)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge_sdk.inference.loader import MANIFEST_FILE
from mobile_bridge import Bridge
from sync.messages import ModelRelease
from sync.releases import SignedRelease, public_key_text
from tests.support.releases import release_folder, sign_folder
from tests.unit.edge_sdk.fakes import Clock, FakeCloud

KEY = Ed25519PrivateKey.generate()


def call(bridge: Bridge, method: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(bridge.call(method, json.dumps(args or {})))
    return parsed


def announce(cloud: FakeCloud, folder: Path, signed: SignedRelease) -> None:
    url = f"/v1/models/{signed.manifest.release}"
    for name in (MANIFEST_FILE, "emotion-v1.tflite"):
        cloud.files[f"{url}/{name}"] = (folder / name).read_bytes()
    m = signed.manifest
    cloud.append_change(
        "u1",
        ModelRelease(
            version=1, release=m.release, model_version=m.model_version,
            feature_spec_version=m.feature_spec_version, sha256=m.sha256, url=url, signature=signed.signature,
        ),
    )  # fmt: skip


def test_update_model_refuses_a_forged_release_then_installs_a_signed_one(tmp_path: Path) -> None:
    cloud = FakeCloud(Clock())
    bridge = Bridge(transport=cloud)
    opened = call(bridge, "open", {"dataDir": str(tmp_path / "app"), "serverUrl": "http://cloud.test",
                                   "releasePublicKey": public_key_text(KEY)})  # fmt: skip
    assert opened["ok"], opened
    assert call(bridge, "enroll", {"code": cloud.new_code("u1")})["ok"]
    assert call(bridge, "updateModel")["result"] == {"status": "none", "release": 0, "modelVersion": None}

    forged = release_folder(tmp_path / "forged", "emotion-v1.0.5")
    announce(cloud, forged, sign_folder(Ed25519PrivateKey.generate(), 1, forged))
    call(bridge, "sync")
    refused = call(bridge, "updateModel")
    assert refused["ok"] is False
    assert refused["error"]["code"] == "release_refused"
    assert refused["error"]["details"] == {"reason": "signature_invalid"}

    good = release_folder(tmp_path / "good", "emotion-v1.0.6")
    announce(cloud, good, sign_folder(KEY, 2, good))
    call(bridge, "sync")
    installed = call(bridge, "updateModel")
    assert installed["result"] == {"status": "installed", "release": 2, "modelVersion": "emotion-v1.0.6"}
    call(bridge, "close")


def test_a_malformed_release_key_fails_open_and_leaves_the_bridge_closed(tmp_path: Path) -> None:
    bridge = Bridge(transport=FakeCloud(Clock()))
    opened = call(bridge, "open", {"dataDir": str(tmp_path / "app"), "serverUrl": "http://cloud.test",
                                   "releasePublicKey": "not a key"})  # fmt: skip
    assert opened["ok"] is False and opened["error"]["code"] == "invalid_settings"
    assert call(bridge, "status")["error"]["code"] == "not_open"
