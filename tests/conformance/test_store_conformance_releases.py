"""Store conformance: publishing model releases, the staged rollout, the release a user's sync
announces, the files, and the model version devices report (spec §5.9). Run per backend."""

from __future__ import annotations

import pytest

from cloud.domain.releases.rules import cohort_bucket
from cloud.store import Store
from cloud.store.errors import ReleaseExists, ReleaseNotFound, RolloutNarrowed
from cloud.store.records import ModelFileRecord, ModelReleaseRecord
from sync.codec import decode_change
from sync.messages import ModelRelease
from tests.conformance.test_store_conformance import NOW, enrolled

pytestmark = pytest.mark.anyio


def release(number: int, model_version: str = "emotion-v1.0.1") -> ModelReleaseRecord:
    return ModelReleaseRecord(
        release=number,
        model_version=model_version,
        feature_spec_version="features-v1",
        sha256=f"{number:064x}",
        signature="c2ln" * 22,
        rollout_bps=0,
        created_at=NOW,
        created_by="operator:ana",
    )


FILES = [
    ModelFileRecord(name="manifest.json", sha256="a" * 64, body=b"{}"),
    ModelFileRecord(name="m.tflite", sha256="b" * 64, body=b"\x00\x01\xff"),
]


async def releases_announced(
    store: Store, device_id: str = "dev_1", model_version: str | None = None
) -> list[int]:
    outcome = await store.sync(
        device_id=device_id, items=[], skew_ms=0, after_version=0, pull_limit=100, now=NOW + 1,
        model_version=model_version,
    )  # fmt: skip
    changes = [decode_change(c.body) for c in outcome.changes]
    return [c.release for c in changes if isinstance(c, ModelRelease)]


async def test_a_release_is_published_rolled_out_to_nobody(store: Store) -> None:
    published = await store.publish_release(release(3), FILES, address="10.0.0.1")
    assert (published.release, published.rollout_bps, published.files) == (
        3,
        0,
        ("manifest.json", "m.tflite"),
    )
    assert (published.created_by, published.devices) == ("operator:ana", 0)
    assert await store.model_file(3, "m.tflite") == FILES[1]
    assert await store.model_file(3, "other") is None and await store.model_file(4, "m.tflite") is None
    await enrolled(store)
    assert await releases_announced(store) == []


async def test_release_numbers_only_grow(store: Store) -> None:
    await store.publish_release(release(3), FILES, address=None)
    for number in (3, 2):
        with pytest.raises(ReleaseExists):
            await store.publish_release(release(number), FILES, address=None)
    assert [r.release for r in await store.model_releases()] == [3]
    await store.publish_release(release(4), FILES, address=None)
    assert [r.release for r in await store.model_releases()] == [4, 3]


async def test_a_rollout_only_widens_and_is_audited(store: Store) -> None:
    await store.publish_release(release(1), FILES, address=None)
    widened = await store.set_rollout(1, 2_500, actor="operator:ana", address=None, now=NOW + 5)
    assert (widened.rollout_bps, widened.rolled_out_by, widened.rolled_out_at) == (
        2_500,
        "operator:ana",
        NOW + 5,
    )
    same = await store.set_rollout(1, 2_500, actor="operator:bo", address=None, now=NOW + 6)
    assert (same.rolled_out_by, same.rolled_out_at) == ("operator:ana", NOW + 5)  # nothing changed
    with pytest.raises(RolloutNarrowed):
        await store.set_rollout(1, 2_499, actor="operator:bo", address=None, now=NOW + 7)
    with pytest.raises(ReleaseNotFound):
        await store.set_rollout(9, 100, actor="operator:bo", address=None, now=NOW + 7)
    events = [(e.event, e.detail) for e in await store.page_auth_audit(after=None, limit=10)]
    assert ("model_rollout_changed", "release=1 rollout_bps=2500") in events
    assert [e for e, _ in events].count("model_rollout_changed") == 1
    assert ("model_release_published", "release=1 model=emotion-v1.0.1") in events


async def test_a_sync_announces_the_newest_release_reaching_the_user_once(store: Store) -> None:
    await enrolled(store)
    bucket = cohort_bucket("usr_1")
    await store.publish_release(release(1), FILES, address=None)
    await store.publish_release(release(2, "emotion-v1.0.2"), FILES, address=None)
    await store.set_rollout(2, bucket, actor="a", address=None, now=NOW)  # just short of the user
    assert await releases_announced(store) == []
    await store.set_rollout(1, bucket + 1, actor="a", address=None, now=NOW)
    assert await releases_announced(store) == [1]
    assert await releases_announced(store) == [1]  # not appended again
    await store.set_rollout(2, 10_000, actor="a", address=None, now=NOW)
    assert await releases_announced(store) == [1, 2]


async def test_the_model_version_a_device_reports_is_counted(store: Store) -> None:
    await enrolled(store)
    await enrolled(store, "usr_2", "dev_2", refresh_hash="rt2")
    await store.publish_release(release(1), FILES, address=None)
    await releases_announced(store, "dev_1", model_version="emotion-v1.0.1")
    await releases_announced(store, "dev_2", model_version="emotion-v1.0.1")
    await releases_announced(store, "dev_2", model_version=None)  # kept: the device loaded none yet
    assert (await store.model_releases())[0].devices == 2
    await store.revoke_device("dev_2", NOW + 2)
    assert (await store.model_releases())[0].devices == 1
