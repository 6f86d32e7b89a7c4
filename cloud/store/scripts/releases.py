"""Model releases (spec §5.9): publishing, the staged rollout, the files devices fetch, and the
announcement a user's sync appends to their change log."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from cloud.domain.releases.rules import release_url
from cloud.store.errors import ReleaseExists, ReleaseNotFound, RolloutNarrowed
from cloud.store.records import ModelFileRecord, ModelReleaseRecord
from cloud.store.scripts import operators
from cloud.store.scripts.changelog import append_change
from cloud.store.tx import Tx
from sync.messages import ModelRelease

PUBLISHED: Final = "model_release_published"
ROLLED_OUT: Final = "model_rollout_changed"
MANIFEST_FILE: Final = "manifest.json"

_SELECT: Final = (
    "SELECT release_number, model_version, feature_spec_version, sha256, signature, rollout_bps,"
    " created_at, created_by, rolled_out_at, rolled_out_by FROM model_releases"
)


def _running(tx: Tx, model_version: str | None = None) -> dict[str, int]:
    """Devices (not revoked) by the model version they last reported: one pass over the devices."""
    if model_version is None:
        rows = tx.execute(
            "SELECT model_version, COUNT(*) FROM devices WHERE revoked = 0 AND model_version IS NOT NULL"
            " GROUP BY model_version"
        )
    else:
        rows = tx.execute(
            "SELECT model_version, COUNT(*) FROM devices WHERE revoked = 0 AND model_version = ?"
            " GROUP BY model_version",
            (model_version,),
        )
    return {str(r[0]): int(r[1]) for r in rows}


def _record(tx: Tx, row: Sequence[object], running: dict[str, int]) -> ModelReleaseRecord:
    number = int(row[0])  # type: ignore[call-overload]
    names = [
        r[0]
        for r in tx.execute("SELECT name FROM model_files WHERE release_number = ? ORDER BY name", (number,))
    ]
    names.sort(key=lambda n: (n != MANIFEST_FILE, n))
    return ModelReleaseRecord(
        release=number,
        model_version=str(row[1]),
        feature_spec_version=str(row[2]),
        sha256=str(row[3]),
        signature=str(row[4]),
        rollout_bps=int(row[5]),  # type: ignore[call-overload]
        created_at=int(row[6]),  # type: ignore[call-overload]
        created_by=str(row[7]),
        rolled_out_at=None if row[8] is None else int(row[8]),  # type: ignore[call-overload]
        rolled_out_by=None if row[9] is None else str(row[9]),
        files=tuple(names),
        devices=running.get(str(row[1]), 0),
    )


def publish(
    tx: Tx,
    release: ModelReleaseRecord,
    files: Sequence[ModelFileRecord],
    *,
    address: str | None,
) -> ModelReleaseRecord:
    """Store a release (rolled out to nobody yet) and its files; :class:`ReleaseExists` unless its
    number is above every published one."""
    # Two publishes racing on PostgreSQL may both pass this check; the key then refuses the second
    # of one number, and numbers published out of order still leave the highest one the newest.
    top = tx.execute("SELECT MAX(release_number) FROM model_releases").fetchone()[0]
    if top is not None and release.release <= int(top):
        raise ReleaseExists(f"release {top} is published: a new release needs a number above it")
    inserted = tx.execute(
        "INSERT INTO model_releases (release_number, model_version, feature_spec_version, sha256,"
        " signature, rollout_bps, created_at, created_by) VALUES (?, ?, ?, ?, ?, 0, ?, ?)"
        " ON CONFLICT (release_number) DO NOTHING RETURNING release_number",
        (
            release.release,
            release.model_version,
            release.feature_spec_version,
            release.sha256,
            release.signature,
            release.created_at,
            release.created_by,
        ),
    ).fetchone()
    if inserted is None:
        raise ReleaseExists(f"release {release.release} is published")
    tx.executemany(
        "INSERT INTO model_files (release_number, name, sha256, body) VALUES (?, ?, ?, ?)",
        [(release.release, f.name, f.sha256, f.body) for f in files],
    )
    operators.audit(
        tx, PUBLISHED, release.created_by, release.created_at, actor=release.created_by,
        address=address, detail=f"release={release.release} model={release.model_version}",
    )  # fmt: skip
    return get(tx, release.release)


def get(tx: Tx, release: int) -> ModelReleaseRecord:
    row = tx.execute(_SELECT + " WHERE release_number = ?", (release,)).fetchone()
    if row is None:
        raise ReleaseNotFound(f"no release {release}")
    return _record(tx, row, _running(tx, str(row[1])))


def set_rollout(
    tx: Tx, release: int, rollout_bps: int, *, actor: str, address: str | None, now: int
) -> ModelReleaseRecord:
    """Widen the release's rollout to ``rollout_bps``; :class:`RolloutNarrowed` for less than it has
    (the devices that have it keep it), :class:`ReleaseNotFound`. The same value again is a no-op."""
    widened = tx.execute(
        "UPDATE model_releases SET rollout_bps = ?, rolled_out_at = ?, rolled_out_by = ?"
        " WHERE release_number = ? AND rollout_bps < ? RETURNING 1",
        (rollout_bps, now, actor, release, rollout_bps),
    ).fetchone()
    if widened is not None:
        operators.audit(
            tx, ROLLED_OUT, actor, now, actor=actor, address=address,
            detail=f"release={release} rollout_bps={rollout_bps}",
        )  # fmt: skip
        return get(tx, release)
    current = get(tx, release)  # ReleaseNotFound
    if current.rollout_bps > rollout_bps:
        raise RolloutNarrowed(
            f"release {release} is rolled out to {current.rollout_bps / 100:g} %: a rollout only"
            " widens; roll back with a newer release carrying the older model"
        )
    return current


def releases(tx: Tx) -> list[ModelReleaseRecord]:
    """Every published release, newest first."""
    rows = tx.execute(_SELECT + " ORDER BY release_number DESC").fetchall()
    running = _running(tx)
    return [_record(tx, r, running) for r in rows]


def release_file(tx: Tx, release: int, name: str) -> ModelFileRecord | None:
    row = tx.execute(
        "SELECT name, sha256, body FROM model_files WHERE release_number = ? AND name = ?", (release, name)
    ).fetchone()
    return None if row is None else ModelFileRecord(name=row[0], sha256=row[1], body=bytes(row[2]))


def announce(tx: Tx, user_id: str, bucket: int, announced: int, now: int) -> None:
    """Append a ``ModelRelease`` for the newest release whose rollout reaches the user's cohort
    ``bucket``, when it is above the ``announced`` one (the user's row is locked by the caller)."""
    row = tx.execute(
        "SELECT release_number, model_version, feature_spec_version, sha256, signature FROM model_releases"
        " WHERE release_number > ? AND rollout_bps > ? ORDER BY release_number DESC LIMIT 1",
        (announced, bucket),
    ).fetchone()
    if row is None:
        return
    number, model_version, spec_version, sha256, signature = row
    tx.execute("UPDATE users SET model_release = ? WHERE user_id = ?", (number, user_id))
    append_change(
        tx,
        user_id,
        lambda version: ModelRelease(
            version=version,
            release=int(number),
            model_version=model_version,
            feature_spec_version=spec_version,
            sha256=sha256,
            url=release_url(int(number)),
            signature=signature,
        ),
        now,
    )
