"""The benchmark's building blocks work; the benchmark itself is run by ``make bench``, never timed here."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx

from bench import sync_ingest
from cloud.embedded_redis import free_port
from sync.codec import MediaType, decode_request
from sync.messages import SubmitAggregate


def test_request_bodies_decode_and_days_never_repeat() -> None:
    body = sync_ingest.request_body("device-1", first_seq=11, batch=10, now_ms=1_700_000_000_000)
    request = decode_request(body, MediaType.MSGPACK)
    assert [m.seq for m in request.push] == list(range(11, 21))
    assert all(isinstance(m, SubmitAggregate) for m in request.push)
    assert len({m.day for m in request.push if isinstance(m, SubmitAggregate)}) == 10


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
