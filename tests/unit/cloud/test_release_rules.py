"""The staged rollout's cohorts and the checks a release to publish must pass (spec §5.9)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cloud.domain.releases.errors import ReleaseInvalid
from cloud.domain.releases.rules import BUCKETS, cohort_bucket, in_rollout, percent_to_bps
from cloud.domain.releases.schemas import PublishRelease
from cloud.domain.releases.services import check_files
from tests.support.releases import release_folder, sign_folder

KEY = Ed25519PrivateKey.generate()


def test_the_bucket_is_the_documented_hash() -> None:
    digest = hashlib.sha256(b"model-cohort:usr_0123").digest()
    assert cohort_bucket("usr_0123") == int.from_bytes(digest[:8], "big") % 10_000


def test_buckets_spread_evenly_and_a_wider_rollout_only_adds_users() -> None:
    users = [f"usr_{i:06d}" for i in range(20_000)]
    buckets = [cohort_bucket(u) for u in users]
    assert all(0 <= b < BUCKETS for b in buckets)
    ten = {u for u in users if in_rollout(u, 1_000)}
    fifty = {u for u in users if in_rollout(u, 5_000)}
    assert 1_800 <= len(ten) <= 2_200 and 9_600 <= len(fifty) <= 10_400
    assert ten <= fifty
    assert not any(in_rollout(u, 0) for u in users) and all(in_rollout(u, BUCKETS) for u in users)


@pytest.mark.parametrize(
    ("percent", "bps"), [(0, 0), (0.01, 1), (12.5, 1_250), (33.333, 3_333), (100, 10_000)]
)
def test_percent_to_bps(percent: float, bps: int) -> None:
    assert percent_to_bps(percent) == bps


@pytest.mark.parametrize("percent", [-0.01, 100.01, float("nan")])
def test_a_rollout_outside_0_to_100_percent_is_refused(percent: float) -> None:
    with pytest.raises(ValueError):
        percent_to_bps(percent)


def _publish(folder: Path, **changes: object) -> PublishRelease:
    signed = sign_folder(KEY, 3, folder)
    files = {p.name: p.read_bytes() for p in sorted(folder.iterdir())}
    body = PublishRelease(manifest=signed.manifest, signature=signed.signature, files=files)
    return msgspec.structs.replace(body, **changes)


def test_a_release_whose_files_match_passes(tmp_path: Path) -> None:
    check_files(_publish(release_folder(tmp_path / "r", "emotion-v1.0.1")))


def _without(body: PublishRelease, name: str) -> PublishRelease:
    return msgspec.structs.replace(body, files={k: v for k, v in body.files.items() if k != name})


def _with_file(body: PublishRelease, name: str, data: bytes) -> PublishRelease:
    return msgspec.structs.replace(body, files={**body.files, name: data})


def _signing(body: PublishRelease, **changes: object) -> PublishRelease:
    return msgspec.structs.replace(body, manifest=msgspec.structs.replace(body.manifest, **changes))


def _not_a_manifest(body: PublishRelease) -> PublishRelease:
    return _signing(_with_file(body, "manifest.json", b"[]"), sha256=hashlib.sha256(b"[]").hexdigest())


SPOILED: dict[str, Callable[[PublishRelease], PublishRelease]] = {
    "unsigned": lambda b: msgspec.structs.replace(b, signature=""),
    "a malformed signature": lambda b: msgspec.structs.replace(b, signature="abc"),
    "no manifest": lambda b: _without(b, "manifest.json"),
    "another manifest": lambda b: _with_file(b, "manifest.json", b.files["manifest.json"] + b" "),
    "a model file missing": lambda b: _without(b, "emotion-v1.tflite"),
    "a model file changed": lambda b: _with_file(b, "emotion-v1.tflite", b"x"),
    "a file the manifest does not name": lambda b: _with_file(b, "extra.bin", b"x"),
    "another model version signed": lambda b: _signing(b, model_version="emotion-v9.0.0"),
    "another feature spec signed": lambda b: _signing(b, feature_spec_version="features-v9"),
    "not a manifest": _not_a_manifest,
}


@pytest.mark.parametrize("case", list(SPOILED))
def test_a_release_every_device_would_refuse_is_not_published(tmp_path: Path, case: str) -> None:
    good = _publish(release_folder(tmp_path / "r", "emotion-v1.0.1"))
    with pytest.raises(ReleaseInvalid):
        check_files(SPOILED[case](good))
