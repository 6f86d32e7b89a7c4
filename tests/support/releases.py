"""Model release folders for tests: copies of the committed model under another model version, and
their signed release manifests."""

from __future__ import annotations

import shutil
from pathlib import Path

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge_sdk.inference.loader import MANIFEST_FILE, committed_model_dir
from edge_sdk.inference.manifest import decode_manifest, encode_manifest
from sync.releases import ReleaseManifest, SignedRelease, sha256_hex, sign_release


def release_folder(dest: Path, model_version: str) -> Path:
    """The committed model's files in ``dest``, its manifest naming ``model_version`` (the same
    weights: what differs between releases here is what the checks look at)."""
    shutil.copytree(committed_model_dir(), dest)
    manifest = decode_manifest((dest / MANIFEST_FILE).read_bytes())
    (dest / MANIFEST_FILE).write_bytes(
        encode_manifest(msgspec.structs.replace(manifest, model_version=model_version))
    )
    return dest


def sign_folder(
    key: Ed25519PrivateKey, release: int, folder: Path, *, feature_spec_version: str | None = None
) -> SignedRelease:
    """``folder``'s release manifest, signed with ``key``."""
    data = (folder / MANIFEST_FILE).read_bytes()
    manifest = decode_manifest(data)
    return sign_release(
        key,
        ReleaseManifest(
            release=release,
            model_version=manifest.model_version,
            feature_spec_version=feature_spec_version or manifest.feature_spec_version,
            sha256=sha256_hex(data),
        ),
    )
