"""EdgeClient.record / process: consent gating, a simulated day end to end, revoke, model refusals."""

from __future__ import annotations

import shutil
from pathlib import Path

import msgspec
import numpy as np
import pytest

from ecs.fleet.activity import Session, all_events, batches
from edge_sdk.capture import window_from_events
from edge_sdk.client import EdgeClient
from edge_sdk.features import extract_many
from edge_sdk.inference import (
    MANIFEST_FILE,
    EmotionModel,
    HostInferenceError,
    InferenceEngine,
    ModelHashMismatch,
    WindowScores,
    committed_model_dir,
)
from edge_sdk.pipeline import ModelUnavailable
from edge_sdk.privacy.settings import PrivacySettings
from edge_sdk.settings import PipelineSettings
from sync.messages import ConsentScope, SubmitAggregate
from tests.unit.edge_sdk.fakes import Clock, FakeCloud
from tests.unit.edge_sdk.pipeline.conftest import DAY, OFFSET_MIN, SESSIONS, MakeClient


def feed(client: EdgeClient, sessions: list[Session]) -> int:
    """Record every event of ``sessions`` in batches of 100; returns how many were kept."""
    return sum(client.record(batch) for batch in batches(all_events(sessions)))


def expected_scores(sessions: list[Session]) -> WindowScores:
    """What the committed model says about each session, computed without the pipeline."""
    engine = InferenceEngine()
    engine.install_directory(committed_model_dir())
    windows = [window_from_events(s.events) for s in sessions]
    return engine.score(extract_many(windows, OFFSET_MIN))


def test_without_inference_consent_nothing_is_captured(make_client: MakeClient, day: list[Session]) -> None:
    client = make_client()
    n_events = len(all_events(day))

    assert feed(client, day) == 0
    status = client.capture_status()
    assert (status.buffered_events, status.dropped_events) == (0, n_events)

    report = client.process()
    assert report.consent_missing
    assert (report.windows, report.scored, report.stored, report.dropped_events) == (0, 0, 0, n_events)
    assert client.window_scores() == []
    # No inference ran: the model was not even loaded.
    assert client.capture_status().model_version is None
    # The next report counts only what was dropped since.
    assert client.process().dropped_events == 0


def test_a_simulated_day_is_scored_and_stored_with_the_model_version(
    consenting: EdgeClient, day: list[Session], model_version: str
) -> None:
    assert feed(consenting, day) == len(all_events(day))
    assert consenting.capture_status().buffered_events == len(all_events(day))

    report = consenting.process()

    assert report.windows == report.scored == report.stored == SESSIONS >= 10
    assert (report.skipped, report.dropped_events, report.consent_missing) == (0, 0, False)
    assert report.model_version == model_version
    stored = consenting.window_scores()
    assert [s.end_ms for s in stored] == [s.end_ms for s in day]
    assert {s.model_version for s in stored} == {model_version}
    # The recorder cut exactly the simulated sessions, and the scores are the model's for them.
    expected = expected_scores(day)
    np.testing.assert_allclose([s.stress_prob for s in stored], expected.stress, atol=1e-6)
    np.testing.assert_allclose([s.valence for s in stored], expected.valence, atol=1e-6)
    np.testing.assert_allclose([s.arousal for s in stored], expected.arousal, atol=1e-6)
    assert np.std([s.stress_prob for s in stored]) > 0.01  # the model saw different sessions
    status = consenting.capture_status()
    assert (status.buffered_events, status.pending_windows, status.model_version) == (0, 0, model_version)
    # Nothing more to do until new events arrive.
    assert consenting.process().windows == 0


def test_the_scored_day_is_released_under_the_model_version(
    consenting: EdgeClient, day: list[Session], model_version: str
) -> None:
    feed(consenting, day)
    consenting.process()
    consenting.set_consent(ConsentScope.SHARE_AGGREGATES, True)

    report = consenting.release_daily_aggregates()

    assert [r.day for r in report.released] == [DAY]
    (aggregate,) = consenting.store.pending([SubmitAggregate.__name__])
    assert isinstance(aggregate, SubmitAggregate)
    assert (aggregate.day, aggregate.tz_offset_min, aggregate.model_version) == (
        DAY,
        OFFSET_MIN,
        model_version,
    )
    ks = PrivacySettings().field_levels()
    assert (aggregate.mechanism.stress.k, aggregate.mechanism.valence.k, aggregate.mechanism.arousal.k) == ks


def test_dict_events_score_like_structs(make_client: MakeClient, day: list[Session], tmp_path: Path) -> None:
    as_structs = make_client(tmp_path / "structs.db")
    as_dicts = make_client(tmp_path / "dicts.db")
    for client in (as_structs, as_dicts):
        client.set_consent(ConsentScope.INFERENCE, True)
    events = all_events(day)
    plain = msgspec.to_builtins(events)
    assert plain[0]["type"] in {"key", "touch", "motion", "app"}

    assert sum(as_dicts.record(batch) for batch in batches(plain)) == len(events)
    feed(as_structs, day)

    assert as_dicts.process().stored == as_structs.process().stored == SESSIONS
    assert as_dicts.window_scores() == as_structs.window_scores()


def test_revoking_inference_clears_the_buffer_and_the_scores(
    consenting: EdgeClient, day: list[Session]
) -> None:
    feed(consenting, day[:6])
    assert consenting.process().stored == 6
    feed(consenting, day[6:])
    assert consenting.capture_status().buffered_events > 0

    consenting.set_consent(ConsentScope.INFERENCE, False)

    status = consenting.capture_status()
    assert (status.buffered_events, status.pending_windows) == (0, 0)
    assert consenting.window_scores() == []
    assert consenting.process().consent_missing
    # Granting again does not bring back what was captured under the withdrawn consent.
    consenting.set_consent(ConsentScope.INFERENCE, True)
    report = consenting.process()
    assert (report.windows, report.stored) == (0, 0)
    assert consenting.window_scores() == []


def test_a_revoke_pulled_from_another_device_clears_too(
    consenting: EdgeClient, make_client: MakeClient, cloud: FakeCloud, day: list[Session], tmp_path: Path
) -> None:
    consenting.enroll(cloud.new_code("u1"))
    assert consenting.sync().ok
    feed(consenting, day[:6])
    assert consenting.process().stored == 6
    feed(consenting, day[6:])

    # The user withdrew inference on another of their devices; this one learns it by pulling.
    tablet = make_client(path=tmp_path / "tablet.db")
    tablet.enroll(cloud.new_code("u1"))
    tablet.set_consent(ConsentScope.INFERENCE, False)
    assert tablet.sync().ok
    assert consenting.sync().ok

    assert consenting.consent().scopes["inference"] is False
    assert consenting.window_scores() == []
    assert consenting.capture_status().buffered_events == 0
    assert consenting.record(day[0].events) == 0


def test_a_missing_model_raises_its_named_error_and_keeps_the_events(
    make_client: MakeClient, day: list[Session], tmp_path: Path
) -> None:
    client = make_client(pipeline=PipelineSettings(model_dir=tmp_path / "no-model-here"))
    client.set_consent(ConsentScope.INFERENCE, True)
    kept = feed(client, day)

    with pytest.raises(ModelUnavailable):
        client.process()

    assert client.window_scores() == []
    assert client.capture_status().buffered_events == kept  # nothing drained, nothing lost
    # Installing a good model lets the same events through.
    client.install_model(committed_model_dir())
    assert client.process().stored == SESSIONS


def tampered_copy(target: Path, variant: str = "float") -> Path:
    """A copy of the committed model folder whose ``variant`` file has one byte flipped."""
    shutil.copytree(committed_model_dir(), target)
    manifest = msgspec.json.decode((target / MANIFEST_FILE).read_bytes())
    (entry,) = [f for f in manifest["files"] if f["variant"] == variant]
    data = bytearray((target / entry["path"]).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (target / entry["path"]).write_bytes(bytes(data))
    return target


def test_a_model_failing_its_hash_check_stores_nothing(
    make_client: MakeClient, day: list[Session], tmp_path: Path
) -> None:
    client = make_client(pipeline=PipelineSettings(model_dir=tampered_copy(tmp_path / "model")))
    client.set_consent(ConsentScope.INFERENCE, True)
    feed(client, day)

    with pytest.raises(ModelHashMismatch):
        client.process()

    assert client.window_scores() == []
    assert client.capture_status().model_version is None


def test_a_bad_model_never_replaces_the_serving_one(
    consenting: EdgeClient, day: list[Session], tmp_path: Path, model_version: str
) -> None:
    feed(consenting, day[:6])
    assert consenting.process().stored == 6

    with pytest.raises(ModelHashMismatch):
        consenting.install_model(tampered_copy(tmp_path / "model"))
    with pytest.raises(ModelUnavailable):
        consenting.install_model(tmp_path / "missing")

    assert consenting.capture_status().model_version == model_version
    feed(consenting, day[6:])
    report = consenting.process()
    assert (report.stored, report.model_version) == (SESSIONS - 6, model_version)


def test_windows_survive_a_failing_runtime_and_are_scored_next_time(
    consenting: EdgeClient, day: list[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    feed(consenting, day)
    score = EmotionModel.score

    def broken(self: EmotionModel, features: object) -> object:
        raise HostInferenceError("the host runtime crashed")

    monkeypatch.setattr(EmotionModel, "score", broken)
    with pytest.raises(HostInferenceError):
        consenting.process()
    assert consenting.window_scores() == []
    assert consenting.capture_status().pending_windows == SESSIONS

    monkeypatch.setattr(EmotionModel, "score", score)
    assert consenting.process().stored == SESSIONS
    assert consenting.capture_status().pending_windows == 0


def test_windows_already_stored_are_skipped_after_a_restart(
    make_client: MakeClient, day: list[Session], tmp_path: Path
) -> None:
    first = make_client(tmp_path / "edge.db")
    first.set_consent(ConsentScope.INFERENCE, True)
    feed(first, day)
    assert first.process().stored == SESSIONS
    first.close()

    # The host re-delivers the same events after a restart (its own buffer was not trimmed).
    again = make_client(tmp_path / "edge.db")
    feed(again, day)
    report = again.process()
    assert (report.scored, report.stored, report.skipped) == (SESSIONS, 0, SESSIONS)
    assert len(again.window_scores()) == SESSIONS


def test_windows_past_retention_are_not_stored(
    make_client: MakeClient, day: list[Session], clock: Clock
) -> None:
    client = make_client()
    client.set_consent(ConsentScope.INFERENCE, True)
    clock.advance(PrivacySettings().retention_ms)  # the simulated day is now past retention
    feed(client, day)
    report = client.process()
    assert (report.scored, report.stored, report.skipped) == (SESSIONS, 0, SESSIONS)
    assert client.window_scores() == []


def test_the_last_window_waits_until_it_is_closed(consenting: EdgeClient, day: list[Session]) -> None:
    last = day[-1]
    feed(consenting, [last])
    # Right after its last event the window may still grow: nothing to score yet.
    report = consenting.process(now_ms=last.end_ms + 1)
    assert (report.windows, report.stored) == (0, 0)
    assert consenting.capture_status().buffered_events == len(last.events)
    # Once the idle gap passed it is closed and scored.
    report = consenting.process(now_ms=last.end_ms + consenting.pipeline_settings.idle_gap_ms + 1)
    assert (report.windows, report.stored) == (1, 1)


def test_waiting_windows_are_bounded_and_the_excess_counted(
    make_client: MakeClient, day: list[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_client(pipeline=PipelineSettings(max_pending_windows=3))
    client.set_consent(ConsentScope.INFERENCE, True)
    feed(client, day)
    score = EmotionModel.score

    def broken(self: EmotionModel, features: object) -> object:
        raise HostInferenceError("the host runtime crashed")

    monkeypatch.setattr(EmotionModel, "score", broken)
    with pytest.raises(HostInferenceError):
        client.process()
    status = client.capture_status()
    assert (status.pending_windows, status.dropped_windows) == (3, SESSIONS - 3)

    monkeypatch.setattr(EmotionModel, "score", score)
    report = client.process()
    assert (report.stored, report.dropped_windows) == (3, SESSIONS - 3)
    # The three kept are the newest.
    assert [s.end_ms for s in client.window_scores()] == [s.end_ms for s in day[-3:]]
