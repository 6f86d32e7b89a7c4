"""The release signature (spec §5.9): the exact bytes signed, the checks in their order, and the
spec's example verifying under the key it names."""

from __future__ import annotations

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sync.releases import (
    ReleaseError,
    ReleaseFeatureSpecMismatch,
    ReleaseKeyInvalid,
    ReleaseManifest,
    ReleaseNotNewer,
    ReleaseSignatureInvalid,
    ReleaseUnsigned,
    check_release,
    manifest_of,
    public_key_text,
    sign_release,
    signed_bytes,
    verify_signature,
)
from tests.unit.sync.test_spec_examples import decode_json_example

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUBLIC = public_key_text(KEY)
MANIFEST = ReleaseManifest(
    release=7, model_version="emotion-v1.1.0", feature_spec_version="features-v1", sha256="ab" * 32
)
SIGNED = sign_release(KEY, MANIFEST)
FORGED = sign_release(Ed25519PrivateKey.generate(), MANIFEST).signature
INVALID = ReleaseSignatureInvalid


def _with(**changes: object) -> ReleaseManifest:
    return msgspec.structs.replace(MANIFEST, **changes)


SPEC_EXAMPLE_KEY = "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="


def test_the_signed_bytes_are_the_context_and_the_compact_json_in_field_order() -> None:
    assert signed_bytes(MANIFEST) == (
        b"empathic-credit model release 1\n"
        b'{"release":7,"model_version":"emotion-v1.1.0","feature_spec_version":"features-v1",'
        b'"sha256":"' + b"ab" * 32 + b'"}'
    )


def test_the_spec_example_verifies_under_the_key_the_spec_names() -> None:
    assert PUBLIC == SPEC_EXAMPLE_KEY  # the document's key is this test's
    change = decode_json_example("ModelRelease")
    verify_signature(SPEC_EXAMPLE_KEY, manifest_of(change), change.signature)


CASES: list[tuple[str, dict[str, object], type[ReleaseError] | None]] = [
    ("a good release", {}, None),
    ("unsigned", {"signature": ""}, ReleaseUnsigned),
    ("not base64", {"signature": "%%%"}, ReleaseSignatureInvalid),
    ("a short signature", {"signature": "AAAA"}, ReleaseSignatureInvalid),
    ("another key's", {"signature": FORGED}, INVALID),
    ("another release number", {"manifest": _with(release=8)}, INVALID),
    ("another model", {"manifest": _with(model_version="emotion-v1.1.1")}, INVALID),
    ("another manifest hash", {"manifest": _with(sha256="cd" * 32)}, INVALID),
    ("the running release", {"running": 7}, ReleaseNotNewer),
    ("an older release", {"running": 9}, ReleaseNotNewer),
    ("another feature spec", {"spec": "features-v2"}, ReleaseFeatureSpecMismatch),
    ("a malformed pinned key", {"key": "AAAA"}, ReleaseKeyInvalid),
]  # fmt: skip


@pytest.mark.parametrize(("given", "error"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_check_release(given: dict[str, object], error: type[ReleaseError] | None) -> None:
    def run() -> None:
        check_release(
            str(given.get("key", PUBLIC)),
            given.get("manifest", MANIFEST),  # type: ignore[arg-type]
            str(given.get("signature", SIGNED.signature)),
            running_release=int(given.get("running", 6)),  # type: ignore[call-overload]
            feature_spec_version=str(given.get("spec", "features-v1")),
        )

    if error is None:
        run()
    else:
        with pytest.raises(error):
            run()


def test_the_signature_is_checked_before_the_number_and_the_feature_spec() -> None:
    # A forged release is reported as forged, whatever else is wrong with it: nothing of it is trusted.
    with pytest.raises(ReleaseSignatureInvalid):
        check_release(PUBLIC, MANIFEST, FORGED, running_release=99, feature_spec_version="other")
