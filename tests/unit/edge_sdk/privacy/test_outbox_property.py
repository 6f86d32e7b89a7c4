"""Property: whatever the app calls, in any order, nothing that can leave the device carries
per-event or per-window data — only whole ``SubmitAggregate`` days (levels in range, the only
floats being the mechanism's ε) and the other protocol mutations."""

from __future__ import annotations

import contextlib
import random
import tempfile
from pathlib import Path
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_sdk.client import EdgeClient
from edge_sdk.errors import InvalidMutation
from edge_sdk.privacy.errors import ConsentRequired
from edge_sdk.privacy.scores import WindowScore
from edge_sdk.privacy.settings import PrivacySettings
from edge_sdk.settings import EdgeSettings
from sync.messages import ConsentScope, Mutation, SubmitAggregate, Withdrawn
from tests.unit.edge_sdk.conftest import aggregate
from tests.unit.edge_sdk.fakes import Clock, FakeCloud, LoseReply
from tests.unit.edge_sdk.privacy.conftest import OFFSET_MIN, day_start_ms

HOUR_MS = 3_600_000
AGGREGATE_FIELDS = {
    "type",
    "seq",
    "created_at",
    "day",
    "tz_offset_min",
    "window_bucket",
    "levels",
    "mechanism",
    "model_version",
}
EPSILON_PATHS = {("mechanism", f, "epsilon") for f in ("stress", "valence", "arousal")}
ALLOWED_TYPES = {
    "SubmitAggregate",
    "AcceptOffer",
    "DeclineOffer",
    "SetConsent",
    "RegisterPushToken",
    "AckNotice",
    "Withdrawn",
}

unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
signed = st.floats(min_value=-1.0, max_value=1.0, allow_nan=False)
operations = st.one_of(
    st.tuples(st.just("consent"), st.sampled_from(list(ConsentScope)), st.booleans()),
    st.tuples(
        st.just("scores"),
        st.integers(0, 100),
        st.integers(0, 14),
        unit,
        signed,
        signed,
        st.sampled_from(["m-1", "m-2"]),
    ),
    st.tuples(st.just("release")),
    st.tuples(st.just("day"), st.integers(0, 14), unit, signed, signed),
    st.tuples(st.just("advance"), st.integers(1, 48)),
    st.tuples(st.just("submit"), st.integers(0, 3)),
    st.tuples(st.just("offer")),
    st.tuples(st.just("push_token")),
    st.tuples(st.just("sync")),
    st.tuples(st.just("sync_lost_reply")),
)


def _floats(value: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Paths of every float in a decoded message."""
    if isinstance(value, float):
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _floats(v, (*path, str(k)))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _floats(v, (*path, str(i)))]
    return []


def check_leaving(mutation: Mutation) -> None:
    name = type(mutation).__name__
    assert name in ALLOWED_TYPES
    body = msgspec.to_builtins(mutation)
    assert isinstance(body, dict)
    if isinstance(mutation, SubmitAggregate):
        assert set(body) == AGGREGATE_FIELDS
        assert set(body["levels"]) == {"stress", "valence", "arousal"}
        for field in ("stress", "valence", "arousal"):
            assert 0 <= body["levels"][field] < body["mechanism"][field]["k"]
            assert isinstance(body["levels"][field], int)
        assert set(_floats(body)) <= EPSILON_PATHS
        assert 0 <= body["window_bucket"] <= 7
    else:
        assert _floats(body) == []
    if isinstance(mutation, Withdrawn):
        assert set(body) == {"type", "seq", "created_at", "original_type"}


def run(ops: list[tuple[Any, ...]], root: Path, *, consent_first: bool = False) -> None:
    clock = Clock(day_start_ms("2024-03-10") + 12 * HOUR_MS)
    cloud = FakeCloud(clock)
    client = EdgeClient(
        EdgeSettings(
            base_url="http://cloud.test", db_path=root / "edge.db", clock_ms=clock, random=lambda: 0.5
        ),
        transport=cloud,
        privacy=PrivacySettings(
            tz_offset_min=lambda _ms: OFFSET_MIN, random=random.Random(11), min_windows=3
        ),
    )
    try:
        client.enroll(cloud.new_code("u1"))
        if consent_first:
            client.set_consent(ConsentScope.INFERENCE, True)
            client.set_consent(ConsentScope.SHARE_AGGREGATES, True)
        for n, op in enumerate(ops):
            kind = op[0]
            if kind == "consent":
                client.set_consent(op[1], op[2])
            elif kind == "scores":
                _, hours_ago, count, stress, valence, arousal, model = op
                end = clock.now_ms - hours_ago * HOUR_MS
                scores = [
                    WindowScore(
                        end_ms=end - i * 60_000,
                        stress_prob=stress,
                        valence=valence,
                        arousal=arousal,
                        model_version=model,
                    )
                    for i in range(count)
                ]
                with contextlib.suppress(ConsentRequired, InvalidMutation):
                    client.record_window_scores(scores)
            elif kind == "release":
                client.release_daily_aggregates()
            elif kind == "day":
                # A day of activity up to now, then the next day's release.
                _, count, stress, valence, arousal = op
                scores = [
                    WindowScore(
                        end_ms=clock.now_ms - i * 60_000,
                        stress_prob=stress,
                        valence=valence,
                        arousal=arousal,
                        model_version="m-1",
                    )
                    for i in range(count)
                ]
                with contextlib.suppress(ConsentRequired, InvalidMutation):
                    client.record_window_scores(scores)
                clock.advance(24 * HOUR_MS)
                client.release_daily_aggregates()
            elif kind == "advance":
                clock.advance(op[1] * HOUR_MS)
            elif kind == "submit":
                with contextlib.suppress(ConsentRequired):
                    client.submit_aggregate(**aggregate(f"2024-01-0{op[1] + 1}"))
            elif kind == "offer":
                client.accept_offer(f"o{n}")
            elif kind == "push_token":
                client.register_push_token(f"t{n}")
            elif kind == "sync":
                client.sync(force=True)
            else:
                cloud.script.append(LoseReply())
                client.sync(force=True)
            pending = client.store.pending()
            for mutation in pending:
                check_leaving(mutation)
            if not client.consent().scopes["share_aggregates"]:
                assert not any(isinstance(m, SubmitAggregate) for m in pending)
            seqs = [m.seq for m in pending]
            assert seqs == sorted(seqs) and (not seqs or seqs[-1] - seqs[0] == len(seqs) - 1)
        for device in cloud.devices.values():
            for mutation in device.mutations:
                check_leaving(mutation)
    finally:
        client.close()


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(operations, max_size=25), st.booleans())
def test_nothing_per_window_ever_leaves_the_device(ops: list[tuple[Any, ...]], consent_first: bool) -> None:
    with tempfile.TemporaryDirectory() as root:
        run(ops, Path(root), consent_first=consent_first)


def test_a_long_session_releases_and_checks(tmp_path: Path) -> None:
    """A fixed, busy sequence so the property run always covers releases, revokes and syncs."""
    ops: list[tuple[Any, ...]] = [
        ("consent", ConsentScope.INFERENCE, True),
        ("consent", ConsentScope.SHARE_AGGREGATES, True),
    ]
    for day in range(6):
        ops += [("scores", 30 + day * 5, 12, 0.7, -0.2, 0.4, "m-1"), ("advance", 24), ("release",), ("sync",)]
    ops += [
        ("scores", 20, 12, 0.1, 0.2, 0.3, "m-2"),
        ("advance", 30),
        ("release",),
        ("consent", ConsentScope.SHARE_AGGREGATES, False),
        ("sync",),
    ]
    run(ops, tmp_path)
