"""The demo seed on a temporary SQLite database: its report agrees with the rows it wrote."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections import Counter
from contextlib import closing
from pathlib import Path

import msgspec
import pytest

from cloud.domain.credit.evaluation import EvaluationResult
from cloud.seed import AlreadySeeded, seed
from cloud.settings import load_settings
from cloud.store import open_store

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_seed_report_matches_the_database(tmp_path: Path) -> None:
    settings = load_settings({"DATA_DIR": str(tmp_path)})
    store = await open_store(settings.database)
    await store.migrate()
    try:
        report = await seed(store, settings, users=24, days=30, seed_value=3)
        with pytest.raises(AlreadySeeded):
            await seed(store, settings, users=5, days=30, seed_value=4)
    finally:
        await store.close()

    with closing(sqlite3.connect(tmp_path / "cloud.sqlite3")) as conn:
        users = conn.execute("SELECT COUNT(*) FROM users").fetchone()[0]
        offers = conn.execute("SELECT COUNT(*) FROM offers WHERE status = 'offered'").fetchone()[0]
        evaluations = conn.execute("SELECT status, result, offer_id FROM evaluations").fetchall()
        aggregates = conn.execute("SELECT COUNT(*) FROM aggregates").fetchone()[0]
        personas = Counter(r[0] for r in conn.execute("SELECT external_ref FROM users"))
        outbox = dict(conn.execute("SELECT kind, COUNT(*) FROM outbox GROUP BY kind").fetchall())

    # The refused second run wrote nothing.
    assert users == report.users == 24
    assert aggregates == 24 * 30
    assert len(evaluations) == 24 and {s for s, _, _ in evaluations} == {"done"}
    assert outbox["evaluate_credit"] == 24
    assert offers == report.offers == sum(1 for _, _, offer_id in evaluations if offer_id is not None)
    codes: Counter[str] = Counter()
    for _, result, _ in evaluations:
        decoded = msgspec.json.decode(result, type=EvaluationResult)
        assert decoded.guardrail is not None
        codes.update(decoded.guardrail.reason_codes)
    assert codes == report.outcomes
    assert sum(t.users for t in report.personas.values()) == 24
    assert {f"seed:{name}": t.users for name, t in report.personas.items() if t.users} == dict(personas)
    assert sum(t.fired for t in report.personas.values()) == report.fired
    # Every evaluation read the 30 days the device released, so each had a signal.
    assert codes["GUARDRAIL_NO_SIGNAL"] == 0


def test_seed_command_prints_the_report_and_refuses_a_second_run(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "ENV")}
    env["DATA_DIR"] = str(tmp_path)
    command = [sys.executable, "-m", "cloud.seed", "--users", "6", "--days", "10"]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert first.returncode == 0, first.stderr
    assert "guardrail fired" in first.stdout and "Guardrail by persona" in first.stdout
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert second.returncode == 1
    assert "already holds the demo population" in second.stderr
