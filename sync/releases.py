"""Signed model releases (spec §5.9): what a release says, the bytes its signature covers, and the
checks a device runs before it downloads anything.

A release is made offline: whoever holds the release key signs a :class:`ReleaseManifest` (the
release number, the model and feature-spec versions, and the SHA-256 of the model's
``manifest.json``, which in turn names the SHA-256 of every model file). The cloud only stores and
distributes it; a device pins the release public key and accepts a release only when its signature
verifies under that key, its number is above the one it runs, and its feature spec is the SDK's.

Keys are Ed25519: the public key travels as the base64 of its 32 raw bytes, a signature as the
base64 of its 64 bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Final

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sync.messages import (
    FeatureSpecVersion,
    ModelRelease,
    ModelVersion,
    ReleaseNumber,
    ReleaseSignature,
    Sha256Hex,
)

SIGNING_CONTEXT: Final = b"empathic-credit model release 1\n"
"""Prefixed to the manifest's bytes before signing, so a release signature can never be taken for a
signature over anything else made with the same key."""


class ReleaseError(ValueError):
    """Base of the reasons a release is refused before anything is downloaded."""


class ReleaseUnsigned(ReleaseError):
    """The release carries no signature."""


class ReleaseSignatureInvalid(ReleaseError):
    """The signature is malformed or does not verify under the pinned release key."""


class ReleaseKeyInvalid(ReleaseError):
    """The release public key (or private key) is not a usable Ed25519 key."""


class ReleaseNotNewer(ReleaseError):
    """The release number is not above the release the device runs (a replayed or old release)."""


class ReleaseFeatureSpecMismatch(ReleaseError):
    """The release's model was trained on another feature spec than the one the SDK computes."""


class ReleaseManifest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a release key signs. A rollback is a newer release carrying an older model."""

    release: ReleaseNumber
    """Monotonic: a device accepts only a release above the one it runs."""
    model_version: ModelVersion
    feature_spec_version: FeatureSpecVersion
    """Must equal the SDK's feature spec version."""
    sha256: Sha256Hex
    """SHA-256 of the model's ``manifest.json``, which names every model file's own SHA-256."""


class ManifestFile(msgspec.Struct, frozen=True):
    path: str
    sha256: str


class ManifestSummary(msgspec.Struct, frozen=True):
    """What the cloud and the signing tool read of a model's ``manifest.json``: its versions and
    the files it names with their SHA-256 (the SDK reads all of it, ``edge_sdk.inference.manifest``)."""

    model_version: str
    feature_spec_version: str
    files: tuple[ManifestFile, ...]


def read_summary(data: bytes) -> ManifestSummary:
    """:class:`ManifestSummary` of ``manifest.json`` bytes; ``msgspec.DecodeError`` if it is none."""
    return msgspec.json.decode(data, type=ManifestSummary)


class SignedRelease(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A manifest with its signature: the ``release.json`` file of a signed model folder."""

    manifest: ReleaseManifest
    signature: ReleaseSignature


def manifest_of(change: ModelRelease) -> ReleaseManifest:
    """The signed part of a pulled ``ModelRelease``."""
    return ReleaseManifest(
        release=change.release,
        model_version=change.model_version,
        feature_spec_version=change.feature_spec_version,
        sha256=change.sha256,
    )


def signed_bytes(manifest: ReleaseManifest) -> bytes:
    """The exact bytes a release signature covers: the context, then the manifest's canonical JSON
    (msgspec writes a Struct's fields in declaration order, with no whitespace)."""
    return SIGNING_CONTEXT + msgspec.json.encode(manifest)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _b64decode(text: str, size: int, what: str, error: type[ReleaseError]) -> bytes:
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise error(f"the {what} is not base64") from None
    if len(raw) != size:
        raise error(f"the {what} must be {size} bytes, got {len(raw)}")
    return raw


def load_public_key(text: str) -> Ed25519PublicKey:
    """A release public key from the base64 of its 32 raw bytes; :class:`ReleaseKeyInvalid` else."""
    return Ed25519PublicKey.from_public_bytes(_b64decode(text, 32, "release public key", ReleaseKeyInvalid))


def public_key_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The base64 of the raw public key: what a device pins."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return base64.b64encode(public.public_bytes_raw()).decode("ascii")


def sign_release(private_key: Ed25519PrivateKey, manifest: ReleaseManifest) -> SignedRelease:
    """Sign ``manifest`` (offline, where the release key lives)."""
    signature = private_key.sign(signed_bytes(manifest))
    return SignedRelease(manifest=manifest, signature=base64.b64encode(signature).decode("ascii"))


def check_signature_format(signature: str) -> bytes:
    """The raw bytes of a base64 64-byte signature: :class:`ReleaseUnsigned` for an empty one,
    :class:`ReleaseSignatureInvalid` for one of another shape (not yet verified against a key)."""
    if not signature:
        raise ReleaseUnsigned("the release is not signed")
    return _b64decode(signature, 64, "signature", ReleaseSignatureInvalid)


def verify_signature(public_key: str, manifest: ReleaseManifest, signature: str) -> None:
    """Raise :class:`ReleaseUnsigned` or :class:`ReleaseSignatureInvalid` unless ``signature`` is the
    release key's over ``manifest``; :class:`ReleaseKeyInvalid` for an unusable ``public_key``."""
    key = load_public_key(public_key)
    raw = check_signature_format(signature)
    try:
        key.verify(raw, signed_bytes(manifest))
    except InvalidSignature:
        raise ReleaseSignatureInvalid(
            f"release {manifest.release} is not signed by the pinned release key"
        ) from None


def check_release(
    public_key: str,
    manifest: ReleaseManifest,
    signature: str,
    *,
    running_release: int,
    feature_spec_version: str,
) -> None:
    """Every check a device runs before it downloads a release, in order: the signature, the
    release number (above ``running_release``), then the feature spec. Raises the first failure."""
    verify_signature(public_key, manifest, signature)
    if manifest.release <= running_release:
        raise ReleaseNotNewer(
            f"release {manifest.release} is not newer than release {running_release}, which this device runs"
        )
    if manifest.feature_spec_version != feature_spec_version:
        raise ReleaseFeatureSpecMismatch(
            f"release {manifest.release} ({manifest.model_version}) needs feature spec "
            f"{manifest.feature_spec_version}, the SDK computes {feature_spec_version}"
        )
