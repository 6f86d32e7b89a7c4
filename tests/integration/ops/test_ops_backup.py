"""Encrypted backups and restores through ``ecs`` on both engines: a live server's database is
backed up, rights exercised after the backup are journalled and replayed by the restore, the
restored store starts a new epoch (cursors issued before are refused, spec §5.5), and a wrong key,
a changed file, a key kept beside the backups and a restore into a non-empty target are refused."""

from __future__ import annotations

import json
import time
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ecs.cli import Exit, main
from edge_sdk.client import EdgeClient
from edge_sdk.settings import EdgeSettings
from sync.codec import MediaType
from sync.codes import ErrorCode
from sync.messages import ConsentScope, SetConsent
from tests.support.consent import grant_share_aggregates_over_http
from tests.support.databases import Databases
from tests.support.live_server import LiveServer, post_sync, sample_aggregate, sync_body, sync_ok

pytestmark = pytest.mark.engines("sqlite", "postgres")


def ecs(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    code = main(["--json", *argv])
    captured = capsys.readouterr()
    # The message is wrapped to the console's width: compare its words.
    return code, json.loads(captured.out) if captured.out else None, " ".join(captured.err.split())


def _empty(url: str) -> None:
    """Lose the PostgreSQL schema's contents: drop it and create it again, empty."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT current_schema()").fetchone()
        assert row is not None
        conn.execute(f'DROP SCHEMA "{row[0]}" CASCADE')
        conn.execute(f'CREATE SCHEMA "{row[0]}"')


def test_a_backup_restores_into_a_new_epoch_with_the_rights_since_replayed(
    engine: str,
    redis_url: str,
    databases: Databases,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = databases.url(engine)
    journal = tmp_path / "journal"
    env = {"RIGHTS_JOURNAL_DIR": str(journal), **({} if url is None else {"DATABASE_URL": url})}
    with LiveServer(tmp_path / "cloud", redis_url, env=env) as server:
        sharing = grant_share_aggregates_over_http(server, server.create_user())
        reply = sync_ok(server, sharing, [sample_aggregate(2, day="2024-03-01")])
        old_cursor = reply.cursor
        port = server.port
        erased = server.create_user()
        kept = server.new_device()
        # Two phones with the real SDK: one keeps its identity across the restore, the other's
        # refresh token is rotated after the backup (it refreshes before every sync).
        phones: dict[str, EdgeClient] = {}
        codes: dict[str, str] = {}
        for name, margin in (("steady", 60_000), ("rotating", 10**12)):
            user = server.create_user()
            settings = EdgeSettings(
                base_url=server.base_url, db_path=tmp_path / f"{name}.db", refresh_margin_ms=margin
            )
            phones[name] = EdgeClient(settings, reenroll=partial(codes.__getitem__, name))
            phones[name].enroll(server.enrollment_code(user))
            phones[name].set_consent(ConsentScope.PUSH, True)
            assert phones[name].sync().ok
        for name, value in {"DATA_DIR": str(server.data_dir), "DATABASE_URL": server.database.url,
                            "RIGHTS_JOURNAL_DIR": str(journal)}.items():  # fmt: skip
            monkeypatch.setenv(name, value)
        (tmp_path / "keys").mkdir()
        (tmp_path / "backups").mkdir()
        key = str(tmp_path / "keys" / "backup.key")
        assert ecs(capsys, "backup-key", "--out", key)[0] == Exit.OK
        assert ecs(capsys, "backup-key", "--out", key)[0] == Exit.FAILED  # never overwritten
        beside = str(tmp_path / "backups" / "beside.key")
        assert ecs(capsys, "backup-key", "--out", beside)[0] == Exit.OK
        code, _, err = ecs(capsys, "backup", "--out", str(tmp_path / "backups" / "b0"), "--key-file", beside)
        assert code == Exit.FAILED and "keep the key elsewhere" in err
        backup = str(tmp_path / "backups" / "cloud.backup")
        code, made, _ = ecs(capsys, "backup", "--out", backup, "--key-file", key)
        assert code == Exit.OK and made["engine"] == engine and made["backup_bytes"] > 0

        # After the backup: a revocation (it erases the user's aggregates), made offline an hour
        # before (what counts is when the server recorded it), and an erasure.
        an_hour_ago = int(time.time() * 1000) - 3_600_000
        revoke = SetConsent(seq=3, created_at=an_hour_ago, scope=ConsentScope.SHARE_AGGREGATES, granted=False)
        assert [r.status for r in sync_ok(server, sharing, [revoke]).results] == ["applied"]
        assert server.admin.post(f"/v1/admin/users/{erased}/erase").status_code == 200
        for phone in phones.values():  # acknowledged, so deleted on the phone; lost with the server
            phone.set_consent(ConsentScope.INFERENCE, True)
            assert phone.sync().ok and phone.status().pending == 0

    # The database is lost; the restore goes into an empty data folder (SQLite) or schema.
    restored_dir = tmp_path / "restored"
    if url is None:
        monkeypatch.setenv("DATA_DIR", str(restored_dir))
        monkeypatch.setenv("DATABASE_URL", f"sqlite:///{restored_dir / 'cloud.sqlite3'}")
    else:
        _empty(url)
    other_key = str(tmp_path / "keys" / "other.key")
    ecs(capsys, "backup-key", "--out", other_key)
    code, _, err = ecs(capsys, "restore", backup, "--key-file", other_key)
    assert code == Exit.FAILED and "another key" in err
    changed = tmp_path / "changed.backup"
    data = bytearray(Path(backup).read_bytes())
    data[-40] ^= 1
    changed.write_bytes(bytes(data))
    code, _, err = ecs(capsys, "restore", str(changed), "--key-file", key)
    assert code == Exit.FAILED and "changed" in err

    monkeypatch.setenv("RIGHTS_JOURNAL_DIR", str(tmp_path / "no-journal-here"))
    code, _, err = ecs(capsys, "restore", backup, "--key-file", key)
    assert code == Exit.FAILED and "no rights journal" in err and "--no-journal" in err
    monkeypatch.setenv("RIGHTS_JOURNAL_DIR", str(journal))

    code, done, err = ecs(capsys, "restore", backup, "--key-file", key)

    assert code == Exit.OK, err
    assert done["revocations_replayed"] == {"applied": 1}
    assert done["erasures_replayed"] == {"applied": 1} and done["erasures_blocked"] == []
    code, _, err = ecs(capsys, "restore", backup, "--key-file", key)
    assert code == Exit.FAILED and "empty" in err

    restored_env = {**env, **({"DATABASE_URL": url} if url else {})}
    restored = LiveServer(restored_dir, redis_url, env=restored_env)
    restored.port = port  # the phones know the cloud by its address
    with restored:
        # A cursor of before the restore is refused: its versions may come again with other changes.
        refused = post_sync(
            restored, sharing.access_token, sync_body(sharing.device_id, cursor=old_cursor), MediaType.MSGPACK
        )
        assert (refused.status_code, refused.json()["code"]) == (400, ErrorCode.INVALID_CURSOR)
        fresh = sync_ok(restored, sharing, [], cursor=None)
        assert fresh.cursor is not None and fresh.cursor.startswith(f"v2.{done['epoch']}.")
        view = restored.user_view(sharing.user_id)
        assert view["consent"]["share_aggregates"] is False and view["aggregates"] == []
        assert restored.user_view(erased)["erased_at"] is not None
        assert restored.user_view(kept.user_id)["devices"][0]["device_id"] == kept.device_id

        # The steady phone pulls again (its cursor is refused), fills the seq the server lost and
        # converges; operators see the lost seq on the user's timeline.
        steady, rotating = phones["steady"], phones["rotating"]
        steady.set_consent(ConsentScope.INFERENCE, False)
        outcome = steady.sync()
        assert outcome.ok and steady.status().pending == 0, outcome
        user_id = steady.status().user_id or ""
        view = restored.user_view(user_id)
        assert view["consent"] == steady.store.mirror_consent()
        assert (view["consent"]["inference"], view["consent"]["push"]) == (False, True)
        timeline = restored.admin.get(f"/v1/admin/users/{user_id}/timeline").json()["items"]
        assert [e["summary"] for e in timeline if e["kind"] == "seqs_lost"] == [
            "seqs 2-2 lost by the server, filled by the device"
        ]
        # The rotating phone's refresh token postdates the backup: refused, so the SDK asks the app
        # for a new code (the lender's backend gets one from the admin API) and re-enrolls,
        # naming its old identity, with its pending write kept.
        rotating.set_consent(ConsentScope.INFERENCE, False)
        old_device = rotating.status().device_id
        codes["rotating"] = restored.enrollment_code(rotating.status().user_id or "")
        outcome = rotating.sync()
        assert outcome.ok and outcome.reenrolled_device_id not in (None, old_device), outcome
        assert rotating.status().pending == 0
        assert restored.user_view(rotating.status().user_id or "")["consent"]["inference"] is False
        for phone in phones.values():
            phone.close()
