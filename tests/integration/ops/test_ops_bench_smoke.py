"""The benchmark's building blocks work; the benchmark itself is run by ``make bench``, never timed here."""

from __future__ import annotations

import asyncio
import io
import math
import os
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from bench import offer_pipeline, sync_ingest
from cloud.embedded_redis import free_port
from sync.codec import MediaType, decode_request
from sync.messages import ConsentScope, MutationResult, SetConsent, SubmitAggregate, SyncReply
from tests.support.live_server import LiveServer


def test_request_bodies_decode_and_days_never_repeat() -> None:
    body = sync_ingest.request_body("device-1", first_seq=11, batch=10, now_ms=1_700_000_000_000)
    request = decode_request(body, MediaType.MSGPACK)
    assert [m.seq for m in request.push] == list(range(11, 21))
    assert all(isinstance(m, SubmitAggregate) for m in request.push)
    assert len({m.day for m in request.push if isinstance(m, SubmitAggregate)}) == 10


def test_the_first_sync_grants_share_aggregates() -> None:
    request = decode_request(sync_ingest.grant_body("device-1", 1_700_000_000_000), MediaType.MSGPACK)
    [grant] = request.push
    assert isinstance(grant, SetConsent) and grant.seq == 1
    assert (grant.scope, grant.granted) == (ConsentScope.SHARE_AGGREGATES, True)


def _reply(*results: MutationResult, expected_seq: int | None = None) -> SyncReply:
    return SyncReply(protocol=1, last_seq=3, results=list(results), expected_seq=expected_seq, server_time=1)


@pytest.mark.parametrize(
    "reply",
    [
        _reply(MutationResult(seq=2, status="applied")),
        _reply(
            MutationResult(seq=2, status="applied"),
            MutationResult(seq=3, status="rejected", code="consent_missing"),
        ),
        _reply(MutationResult(seq=2, status="applied"), MutationResult(seq=3, status="duplicate")),
        _reply(
            MutationResult(seq=2, status="applied"),
            MutationResult(seq=3, status="applied", detail="superseded"),
        ),
        _reply(expected_seq=2),
    ],
    ids=["missing", "refused", "duplicate", "with_detail", "gap"],
)
def test_anything_but_applied_stops_the_benchmark(reply: SyncReply) -> None:
    sync_ingest.check_applied(
        "device-1", _reply(*[MutationResult(seq=s, status="applied") for s in (2, 3)]), range(2, 4)
    )
    with pytest.raises(sync_ingest.BenchError, match=r"not all of seqs 2\.\.3 applied"):
        sync_ingest.check_applied("device-1", reply, range(2, 4))


def test_api_level_grants_first_and_every_aggregate_is_applied(redis_url: str, tmp_path: Path) -> None:
    env = {"ADMIN_TOKEN": sync_ingest.ADMIN_TOKEN}
    with LiveServer(tmp_path / "cloud", redis_url, env) as server:
        result = asyncio.run(_api_level(server.base_url))
    # check=True: every reply was read and every result was "applied", or BenchError was raised.
    assert result.requests == 2 * 2 and len(result.latencies_ms) == 4


async def _api_level(base: str) -> sync_ingest.LevelResult:
    devices = await sync_ingest.enroll(base, 2)
    try:
        assert all(d.next_seq == 2 and d.cursor is not None for d in devices)
        return await sync_ingest.run_level(base, devices, 2, 3, check=True, max_s=30)
    finally:
        for device in devices:
            await device.close()


def test_wire_sizes_are_consistent() -> None:
    sizes = sync_ingest.wire_sizes(10, "0" * 32)
    assert 0 < sizes.aggregate_msgpack < sizes.aggregate_json
    assert 10 * sizes.aggregate_msgpack < sizes.request_msgpack < sizes.request_json


def test_floor_app_decodes_over_http(tmp_path: Path) -> None:
    port = free_port()
    with sync_ingest.serve(
        "floor", "bench.floor_app:create_app", port, dict(os.environ), tmp_path / "f.log"
    ) as base:
        body = sync_ingest.request_body("device-1", 1, 10, 1_700_000_000_000)
        ok = httpx.post(base + "/v1/sync", content=body, headers=sync_ingest.MSGPACK_HEADERS)
        assert ok.status_code == 204
        assert "server" not in ok.headers  # the shared uvicorn command line, as for the API
        bad = httpx.post(base + "/v1/sync", content=b"\xc1", headers=sync_ingest.MSGPACK_HEADERS)
        assert bad.status_code == 500  # the floor does no error mapping; the benchmark never sends this
        result = asyncio.run(_floor_level(base))
        assert result.requests == 3 and len(result.latencies_ms) == 3


async def _floor_level(base: str) -> sync_ingest.LevelResult:
    device = sync_ingest.Device("device-1", "unused")
    try:
        return await sync_ingest.run_level(base, [device], 3, 10, check=False, max_s=30)
    finally:
        await device.close()


def test_offer_pipeline_tiny_run_applies_and_notifies_every_offer_once() -> None:
    figures = offer_pipeline.run(offers=3, pings=3, concurrency=2, max_s=60, relay_timeout_s=600)
    outbox = figures.outbox
    assert (len(outbox.apply_rows), len(outbox.push_rows), outbox.rows) == (3, 3, 6)
    assert (outbox.requeued, outbox.dead, outbox.pending) == (0, 0, 0)
    assert len(figures.accept_to_applied_ms) == len(figures.accept_to_push_ms) == 3
    assert all(applied >= 0 for applied in figures.accept_to_applied_ms)
    assert all(
        applied <= pushed
        for applied, pushed in zip(figures.accept_to_applied_ms, figures.accept_to_push_ms, strict=True)
    )
    assert len(figures.apply_wait_ms) == len(figures.apply_run_ms) == len(figures.push_wait_ms) == 3
    assert len(figures.lone_ping_wait_ms) == len(figures.burst_ping_wait_ms) == 3
    assert all(w >= 0 for w in figures.apply_wait_ms + figures.lone_ping_wait_ms + figures.burst_ping_wait_ms)
    assert figures.applied_per_s > 0 and figures.pings_per_s > 0
    out = io.StringIO()
    offer_pipeline.report(Console(file=out, width=200), figures, cpus=2)
    text = out.getvalue()
    assert "accept → push sent" in text and "floor: ping enqueue → start, one at a time" in text
    assert "6 rows, 0 re-enqueued by the relay, 0 dead-lettered" in text


def test_offer_pipeline_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(100, 0, -1)]
    assert offer_pipeline.percentile(values, 0.0) == 1
    assert offer_pipeline.percentile(values, 0.50) == 50
    assert offer_pipeline.percentile(values, 0.99) == 99
    assert offer_pipeline.percentile(values, 1.0) == 100
    assert math.isnan(offer_pipeline.percentile([], 0.5))


@pytest.mark.parametrize("flag", ["--offers", "--pings", "--concurrency"])
def test_offer_pipeline_refuses_empty_sizes(flag: str) -> None:
    with pytest.raises(SystemExit):
        offer_pipeline.parse_args([flag, "0"])
