"""A store restored from an encrypted backup keeps every chaos invariant.

A seeded schedule with offers runs to its end against a real API and worker; the live database is
backed up (``ecs backup``) while they run; then it is lost, restored into an empty data folder
(``ecs restore``) and the servers start again on it. The phones, unchanged, sync: the new store
epoch refuses their cursors, they pull everything again, and the run's invariants (mirrors equal
to the cloud's view, money applied and notified exactly once, the profile the sum of its audit)
hold on the restored store.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ecs.cli import Exit, main
from tests.chaos.conftest import ACCESS_TTL_S, chaos_processes
from tests.chaos.harness import ChaosRun
from tests.chaos.schedule import make_schedule
from tests.support.live_server import LiveServer

SEED = 10
"""Two credit users with offers, pushes and sharing; no worker kill."""


def ecs(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, object]:
    code = main(["--json", *argv])
    captured = capsys.readouterr()
    assert code == Exit.OK, captured.err
    document: dict[str, object] = json.loads(captured.out)
    return document


@pytest.mark.chaos
def test_a_restored_store_keeps_the_chaos_invariants(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with chaos_processes(tmp_path / "cloud", None) as env:
        (tmp_path / "phones").mkdir()
        run = ChaosRun(make_schedule(SEED), env, tmp_path / "phones", ACCESS_TTL_S)
        try:
            run.setup()
            run.run_steps()
            run.settle()
            run.check()
            assert not run.violations, run.violations[:10]
            server = env.server
            assert isinstance(server, LiveServer)
            monkeypatch.setenv("DATA_DIR", str(server.data_dir))
            monkeypatch.setenv("DATABASE_URL", server.database.url)
            key = str(tmp_path / "backup.key")
            ecs(capsys, "backup-key", "--out", key)
            backup = str(tmp_path / "backups" / "cloud.backup")
            ecs(capsys, "backup", "--out", backup, "--key-file", key)  # the API and worker are running

            server.stop()
            for index in range(len(env.workers)):
                env.workers[index].kill()
            database = server.database.sqlite_path
            lost = tmp_path / "lost"
            lost.mkdir()
            for path in database.parent.glob(database.name + "*"):
                path.rename(lost / path.name)
            report = ecs(capsys, "restore", backup, "--key-file", key)
            server.start()
            env.ensure_workers()

            run.final_sync()
            run.check()

            assert not run.violations, run.violations[:10]
            assert all(
                d.client.store.state().cursor.startswith(f"v2.{report['epoch']}.") for d in run.devices
            )
        finally:
            run.close()
