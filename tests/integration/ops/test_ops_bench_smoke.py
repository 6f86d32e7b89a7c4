"""The benchmarks' building blocks work, and a tiny sync ingest run under wrk measures only what was
applied; the benchmarks themselves are run by ``make bench``, never timed here.

wrk is a system package: ``make pytest`` installs it (``make system-packages``) or stops saying how.
"""

from __future__ import annotations

import io
import math
import os
import re
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from bench import backup, growth, offer_pipeline, sync_ingest
from cloud.embedded_redis import free_port
from sync.codec import MediaType, decode_request
from sync.messages import ConsentScope, MutationResult, SetConsent, SubmitAggregate, SyncReply
from tests.support.live_server import LiveServer

NOW_MS = 1_700_000_000_000


@pytest.mark.parametrize("media", [MediaType.MSGPACK, MediaType.JSON], ids=lambda m: m.name)
def test_request_bodies_decode_and_days_never_repeat(media: MediaType) -> None:
    body = sync_ingest.request_body("device-1", first_seq=11, batch=10, now_ms=NOW_MS, media=media)
    request = decode_request(body, media)
    assert [m.seq for m in request.push] == list(range(11, 21))
    assert all(isinstance(m, SubmitAggregate) for m in request.push)
    assert len({m.day for m in request.push if isinstance(m, SubmitAggregate)}) == 10


def test_json_and_msgpack_bodies_say_the_same() -> None:
    device = sync_ingest.Device("usr_1", "device-1", "token", "cursor-1")
    as_json = [decode_request(b, MediaType.JSON) for b in device.bodies(3, 10, MediaType.JSON, NOW_MS)]
    as_msgpack = [
        decode_request(b, MediaType.MSGPACK) for b in device.bodies(3, 10, MediaType.MSGPACK, NOW_MS)
    ]
    assert as_json == as_msgpack
    assert [r.push[0].seq for r in as_json] == [2, 12, 22]  # seq 1 is the grant
    assert {r.cursor for r in as_json} == {"cursor-1"}


def test_the_first_sync_grants_share_aggregates() -> None:
    request = decode_request(sync_ingest.grant_body("device-1", NOW_MS), MediaType.MSGPACK)
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
def test_anything_but_applied_stops_the_grant(reply: SyncReply) -> None:
    sync_ingest.check_applied(
        "device-1", _reply(*[MutationResult(seq=s, status="applied") for s in (2, 3)]), range(2, 4)
    )
    with pytest.raises(sync_ingest.BenchError, match=r"not all of seqs 2\.\.3 applied"):
        sync_ingest.check_applied("device-1", reply, range(2, 4))


def test_device_files_are_what_the_lua_script_reads(tmp_path: Path) -> None:
    device = sync_ingest.Device("usr_1", "device-1", "tok-1", None)
    bodies = list(device.bodies(3, 10, MediaType.JSON, NOW_MS))
    assert sync_ingest.write_device_files(tmp_path, 4, device, MediaType.JSON, bodies) == 3
    headers = (tmp_path / "4.headers").read_bytes()
    assert headers == (
        b"Content-Type: application/json\r\nAccept: application/json\r\nAuthorization: Bearer tok-1\r\n"
    )
    data, read = (tmp_path / "4.bodies").read_bytes(), []
    while data:
        length = int(data[:8])
        read.append(data[8 : 8 + length])
        data = data[8 + length :]
    assert read == bodies


def test_wire_sizes_are_consistent() -> None:
    sizes = sync_ingest.wire_sizes(10, "0" * 32)
    assert 0 < sizes.aggregate_msgpack < sizes.aggregate_json
    assert 10 * sizes.aggregate_msgpack < sizes.request_msgpack < sizes.request_json


def test_floor_app_decodes_over_http(tmp_path: Path) -> None:
    port = free_port()
    with sync_ingest.serve(
        "floor", "bench.floor_app:create_app", port, dict(os.environ), tmp_path / "f.log"
    ) as base:
        for media in (MediaType.MSGPACK, MediaType.JSON):
            body = sync_ingest.request_body("device-1", 1, 10, NOW_MS, media=media)
            ok = httpx.post(base + "/v1/sync", content=body, headers={"Content-Type": media.value})
            assert ok.status_code == 204
            assert "server" not in ok.headers  # the shared uvicorn command line, as for the API
        bad = httpx.post(base + "/v1/sync", content=b"\xc1", headers=sync_ingest.MSGPACK_HEADERS)
        assert bad.status_code == 500  # the floor does no error mapping; the benchmark never sends this


def test_placement_keeps_wrk_off_the_server_cpu() -> None:
    where = sync_ingest.placement()
    cpus = os.sched_getaffinity(0)
    if len(cpus) >= 2:
        assert where.server and where.client and not where.server & where.client
        assert where.server | where.client == cpus and len(where.server) == 1
    else:
        assert where == sync_ingest.Placement(None, None)
    assert sync_ingest.cpu_seconds(os.getpid()) > 0


def test_tiny_run_reports_floor_sync_and_live(capsys: pytest.CaptureFixture[str]) -> None:
    """The whole benchmark (servers pinned, wrk, checks, report) on 2 devices, 1 s per run."""
    status = sync_ingest.main(["--devices", "2", "--media", "json", "--duration", "1", "--warmup", "0"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "JSON bodies, sqlite, one API process, 1 s per run" in out
    assert "each 200 with 10 results applied" in out
    assert "load generator wrk" in out and "Load average" in out
    [row] = [line for line in out.splitlines() if line.startswith("│       2 │")]
    cells = [c.strip() for c in row.strip("│").split("│")]
    sync_rps, floor_rps, ratio = (float(c.replace(",", "")) for c in cells[1:4])
    assert sync_rps > 0 and floor_rps > 0 and ratio == pytest.approx(sync_rps / floor_rps, abs=0.01)


def test_without_wrk_the_benchmark_stops_and_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert sync_ingest.main(["--devices", "1", "--duration", "1"]) == 2
    out = capsys.readouterr().out
    assert "not measured" in out and "wrk" in out and "apt-get install wrk" in out


def test_refusals_and_running_out_of_bodies_stop_the_benchmark(redis_url: str, tmp_path: Path) -> None:
    wrk = sync_ingest.find_wrk()
    with LiveServer(tmp_path / "cloud", redis_url) as server:
        gap, short = sync_ingest.enroll(server.admin, 2, "smoke")
        target = sync_ingest.Target(
            "sync", server.base_url + "/v1/sync", server.pid, "post", 200, applied_per_reply=10
        )
        folder = tmp_path / "wrk"
        folder.mkdir()

        # A body that skips seqs 2..11: the server answers 200 but applies nothing.
        body = sync_ingest.request_body(gap.device_id, 12, 10, NOW_MS, gap.cursor, MediaType.MSGPACK)
        sync_ingest.write_device_files(folder, 0, gap, MediaType.MSGPACK, [body])
        with pytest.raises(
            sync_ingest.BenchError, match=r"were not 200 with 10 results applied.*expected_seq=2"
        ):
            sync_ingest.run_wrk(wrk, target, 1, 1, folder)

        # Three fresh bodies for a one-second run: the device runs out rather than repeat a seq.
        sync_ingest.write_device_files(
            folder, 0, short, MediaType.MSGPACK, short.bodies(3, 10, MediaType.MSGPACK, NOW_MS)
        )
        with pytest.raises(sync_ingest.BenchError, match="sent all its bodies"):
            sync_ingest.run_wrk(wrk, target, 1, 1, folder)

        # The server's records: the gap device stored nothing, the short one seqs 2..31.
        def answered(ok: int) -> sync_ingest.WrkRun:
            counts = sync_ingest.ThreadCounts(ok=ok, bad=0, exhausted=False, bad_status=0, bad_body=b"")
            return sync_ingest.WrkRun(1, ok, 1.0, 1.0, 1.0, [counts], 1.0, 0.1, 1.0)

        sync_ingest.verify_stored(server.admin, "sync", [gap], answered(0), 10)
        sync_ingest.verify_stored(server.admin, "sync", [short], answered(3), 10)
        sync_ingest.verify_stored(server.admin, "sync", [short], answered(2), 10)  # one in flight at the stop
        for wrong in (1, 4):
            with pytest.raises(sync_ingest.BenchError, match="last_seq 31 on the server"):
                sync_ingest.verify_stored(server.admin, "sync", [short], answered(wrong), 10)
        with pytest.raises(sync_ingest.BenchError, match="last_seq 1 on the server"):
            sync_ingest.verify_stored(server.admin, "sync", [gap], answered(1), 10)


def test_offer_pipeline_tiny_run_applies_and_notifies_every_offer_once() -> None:
    figures = offer_pipeline.run(offers=3, pings=3, concurrency=2, max_s=60, relay_timeout_s=600, idle_s=0.5)
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


def test_offer_pipeline_open_loop_sends_at_each_rate_and_times_every_offer() -> None:
    sizes = {"offers": 2, "pings": 2, "concurrency": 2}
    figures = offer_pipeline.run(
        **sizes, max_s=60, relay_timeout_s=600, rates=[20, 40], seconds=0.25, idle_s=0.5
    )
    assert [(run.rate, len(run.accept_to_applied_ms), len(run.late_ms)) for run in figures.open_loops] == [
        (20, 5, 5),
        (40, 10, 10),
    ]
    for run in figures.open_loops:
        assert all(0 <= a <= p for a, p in zip(run.accept_to_applied_ms, run.accept_to_push_ms, strict=True))
        assert run.sent_per_s > 0
    assert 0 <= figures.idle_worker_cpu < 1  # clock ticks: a short idle spell may count none
    out = io.StringIO()
    offer_pipeline.report(Console(file=out, width=200), figures, cpus=2)
    text = out.getvalue()
    assert "Open loop: accepts at fixed rates, worker poll delay 10 ms" in text
    assert "an idle worker spends" in text


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


def test_growth_tiny_run_grows_the_database_and_reports_every_table(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["--sizes", "150,1500", "--aggregates", "2000", "--min-db-mb", "1", "--duration", "1"]
    status = growth.main([*argv, "--pulls", "10", "--notices", "10", "--unbounded"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert re.search(r"│\s+1[5-9]\d │.*│\s+1\.00 │", out), out  # the smallest size is the ratios' base
    assert re.search(r"│\s+1,5\d\d │", out), out
    assert re.search(r"over 2,0\d\d aggregates: best \d+ ms", out), out
    assert "bounded (SQLITE_WAL_LIMIT_MB=64)" in out and "unbounded (SQLITE_WAL_LIMIT_MB=4096)" in out
    assert re.search(r"floor: bare sqlite3 script │\s+│\s+[\d,]+ │", out), out
    assert re.search(r"bytes written per request / floor: \d+\.\d\d", out), out


def test_growth_percentile_and_size_lists() -> None:
    assert growth.percentile([5.0, 1.0, 3.0], 0.5) == 3.0
    assert growth.percentile([float(i) for i in range(1, 101)], 0.99) == 99.0
    for bad in ("0", "a", "1,,2", ""):
        with pytest.raises(SystemExit):
            growth.parse_args(["--sizes", bad])


def test_bridge_bench_tiny_run_reports_both_sides(capsys: pytest.CaptureFixture[str]) -> None:
    from bench import bridge

    direct_us, bridge_us = bridge.measure(events=10, batches=5)
    assert direct_us > 0 and bridge_us > 0
    assert bridge.main(["--events", "10", "--batches", "5"]) == 0
    out = capsys.readouterr().out
    assert "through the bridge" in out and "ratio" in out


def test_metrics_bench_tiny_run_reports_both_registries(capsys: pytest.CaptureFixture[str]) -> None:
    from bench import metrics

    figures = metrics.measure(requests=50)
    assert figures["bare"] > 0 and figures["metrics"] > figures["bare"]
    assert metrics.main(["--requests", "50"]) == 0
    out = capsys.readouterr().out
    assert "this process" in out and "multiprocess files" in out and "overhead" in out


def test_ratelimit_bench_tiny_run_reports_cost_and_held_requests(capsys: pytest.CaptureFixture[str]) -> None:
    from bench import ratelimit

    assert ratelimit.main(["--duration", "1", "--checks", "50"]) == 0
    out = capsys.readouterr().out
    assert "Redis, quiet subjects" in out and "Limiter on a sync" in out
    assert re.search(r"A held request: \d+ µs .* \d+ held in", out.replace("\n", " "))


def test_argon2_bench_tiny_run_reports_time_and_memory(capsys: pytest.CaptureFixture[str]) -> None:
    from bench import argon2

    assert all(ms > 0 for ms in argon2.verify_ms(2))
    assert argon2.main(["--rounds", "2"]) == 0
    out = capsys.readouterr().out
    assert "verification, median" in out and re.search(r"peak memory of one hash .* [1-9][0-9.]* MiB", out)


def test_backup_bench_tiny_run_reports_both_steps_side_by_side(capsys: pytest.CaptureFixture[str]) -> None:
    assert backup.main(["--size-mb", "4"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^backup\s+\d+\.\d\s+\d+\s+sealed file", out, re.M), out
    assert re.search(r"^restore\s+\d+\.\d\s+\d+\s+restored .* epoch [0-9a-f]{16}$", out, re.M), out
    assert "restore / backup:" in out
