"""Seeded fault-injection schedules against one real server (issue 2 §5).

``CHAOS_SEED=s`` runs only seed ``s``; ``CHAOS_SEEDS=N`` runs seeds ``0..N-1`` (``make chaos
SEEDS=N``); by default seeds ``0..299`` run as part of ``make test``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edge_sdk.crashpoints import SimulatedCrash
from tests.chaos.conftest import ACCESS_TTL_S
from tests.chaos.faults import FAULTS
from tests.chaos.harness import ChaosRun
from tests.chaos.schedule import RESTART_EVERY, SyncStep, make_schedule
from tests.support.live_server import LiveServer, sample_aggregate

DEFAULT_SEEDS = 300


def chaos_seeds() -> list[int]:
    one = os.environ.get("CHAOS_SEED")
    if one:
        return [int(one)]
    return list(range(int(os.environ.get("CHAOS_SEEDS") or DEFAULT_SEEDS)))


def replay_command(seed: int) -> str:
    return f"CHAOS_SEED={seed} .venv/bin/pytest tests/chaos -q"


@pytest.mark.chaos
@pytest.mark.parametrize("seed", chaos_seeds(), ids=lambda s: f"seed{s}")
def test_schedule_converges(seed: int, live_chaos_server: LiveServer, tmp_path: Path) -> None:
    schedule = make_schedule(seed)
    run = ChaosRun(schedule, live_chaos_server, tmp_path, ACCESS_TTL_S)
    error: BaseException | None = None
    try:
        run.setup()
        run.run_steps()
        run.final_sync()
        run.check()
    except (Exception, SimulatedCrash) as exc:
        error = exc
    finally:
        run.close()
    if error is None and not run.violations:
        return
    failure = [f"chaos seed {seed} failed; replay with: {replay_command(seed)}"]
    if error is not None:
        failure.append(f"raised {type(error).__name__}: {error}")
    failure += run.violations[:20]
    failure += ["schedule:", schedule.describe(), "trace:", *run.trace[-60:]]
    log = live_chaos_server.log_tail(40)
    if "Traceback" in log or "ERROR" in log:
        failure += ["server log:", log]
    if error is not None:
        raise AssertionError("\n".join(failure)) from error
    pytest.fail("\n".join(failure), pytrace=False)


def test_schedules_are_reproducible_and_cover_every_fault() -> None:
    seeds = range(DEFAULT_SEEDS)
    assert [make_schedule(s).describe() for s in seeds[:20]] == [
        make_schedule(s).describe() for s in seeds[:20]
    ]
    drawn = {
        step.fault.name
        for s in seeds
        for step in make_schedule(s).steps
        if isinstance(step, SyncStep) and step.fault is not None
    }
    assert drawn == set(FAULTS)
    restarting = sum(make_schedule(s).restarts_server for s in seeds)
    assert restarting >= DEFAULT_SEEDS // RESTART_EVERY
    assert all(make_schedule(s).restarts_server for s in seeds if s % RESTART_EVERY == 0)


def test_invariant_checks_catch_divergence(live_chaos_server: LiveServer, tmp_path: Path) -> None:
    """The checks are not vacuous: a lost aggregate, a stale mirror and a last_seq going back are seen."""
    run = ChaosRun(make_schedule(1), live_chaos_server, tmp_path, ACCESS_TTL_S)
    try:
        run.setup()
        device = run.devices[0]
        live_chaos_server.add_notice(device.user_id, title="seen by nobody")
        run.final_sync()
        run.check()
        assert run.violations == []

        device.aggregates["2030-01-01"] = sample_aggregate(1, day="2030-01-01")
        device.client.store.db.execute("DELETE FROM mirror_notices")
        run.server_last_seq[device.device_id] = 99
        run.check()
        run.observe_last_seq("after tampering")
    finally:
        run.close()
    found = "\n".join(run.violations)
    assert "aggregate of 2030-01-01 stored 0 times" in found
    assert "notices mirrored [] != server" in found
    assert "went back from 99" in found
