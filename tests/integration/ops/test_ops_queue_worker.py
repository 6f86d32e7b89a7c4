"""cloud.queue against a real arq worker process (``python -m cloud.workers``) and a real Redis."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis

from cloud.constants import QUEUE_NAME
from cloud.embedded_redis import popen_child, stop_process
from cloud.queue import JobFailed, JobNotFound, create_queue, job_deserializer, job_serializer

# arq's own key layout, read here only to inspect what really lands in Redis.
RESULT_KEY_PREFIX = "arq:result:"


def test_serializer_round_trips_plain_data() -> None:
    data = {"t": 1, "f": "ping", "a": [{"x": 1, "y": [1.5, "z", None]}], "k": {}, "et": 1_700_000_000_000}
    raw = job_serializer(data)
    assert not raw.startswith(b"\x80")  # every pickle protocol >= 2 starts with PROTO (0x80)
    assert job_deserializer(raw) == data


def test_serializer_keeps_a_failed_job_exception_as_data() -> None:
    raw = job_serializer({"s": False, "r": ValueError("boom")})
    assert job_deserializer(raw) == {"s": False, "r": {"error": "ValueError", "message": "boom"}}


def test_serializer_refuses_arbitrary_objects() -> None:
    with pytest.raises(NotImplementedError, match="cannot serialise object"):
        job_serializer({"a": [object()]})


def test_deserializer_refuses_pickle_bytes() -> None:
    import pickle

    with pytest.raises(msgspec.DecodeError):
        job_deserializer(pickle.dumps({"f": "ping"}))


@pytest.fixture
def worker(redis_url: str, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cloud.sqlite3'}",
    }
    log = (tmp_path / "worker.log").open("wb")
    proc = popen_child([sys.executable, "-m", "cloud.workers"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        code = stop_process(proc, timeout_s=10)
        log.close()
        output = (tmp_path / "worker.log").read_text(errors="replace")
        # SIGTERM is the worker's normal stop signal: it exits 0 after closing its connections.
        assert code == 0, output
        assert "Traceback" not in output, output


class Ping(msgspec.Struct):
    n: int
    note: str


async def _round_trip(redis_url: str) -> tuple[Any, str | None, bytes | None]:
    queue = await create_queue(redis_url)
    try:
        job_id = f"test-ping-{uuid.uuid4().hex}"
        assert await queue.enqueue("ping", Ping(n=7, note="héllo"), job_id=job_id) == job_id
        result = await queue.result(job_id, timeout_s=30)
        # Same id again while the result is kept: deduplicated, nothing is queued.
        again = await queue.enqueue("ping", Ping(n=8, note="other"), job_id=job_id)
    finally:
        await queue.close()
    client = redis.Redis.from_url(redis_url)
    try:
        stored = client.get(RESULT_KEY_PREFIX + f"{QUEUE_NAME}:{job_id}")
        assert stored is None or isinstance(stored, bytes)
    finally:
        client.close()
    return result, again, stored


def test_job_runs_in_worker_process_and_result_is_msgpack(
    redis_url: str, worker: subprocess.Popen[bytes]
) -> None:
    result, again, stored = asyncio.run(_round_trip(redis_url))
    assert msgspec.convert(result, Ping) == Ping(n=7, note="héllo")
    assert again is None
    assert stored is not None
    assert not stored.startswith(b"\x80"), "result stored as pickle"
    decoded = msgspec.msgpack.decode(stored)
    assert decoded["s"] is True and decoded["f"] == "ping"
    assert decoded["r"] == {"n": 7, "note": "héllo"}
    assert worker.poll() is None


async def _unknown_function(redis_url: str) -> None:
    queue = await create_queue(redis_url)
    try:
        job_id = f"test-unknown-{uuid.uuid4().hex}"
        await queue.enqueue("no_such_job", {"x": 1}, job_id=job_id)
        with pytest.raises(JobFailed) as info:
            await queue.result(job_id, timeout_s=30)
        assert info.value.error == "JobExecutionFailed"
        assert "no_such_job" in info.value.message
    finally:
        await queue.close()


def test_unknown_function_fails_with_named_error(redis_url: str, worker: subprocess.Popen[bytes]) -> None:
    asyncio.run(_unknown_function(redis_url))


async def _missing_job(redis_url: str) -> None:
    queue = await create_queue(redis_url)
    try:
        with pytest.raises(JobNotFound):
            await queue.result(f"test-missing-{uuid.uuid4().hex}", timeout_s=1)
    finally:
        await queue.close()


def test_result_of_unknown_job_raises_job_not_found(redis_url: str) -> None:
    asyncio.run(_missing_job(redis_url))


def test_worker_without_redis_url_exits_with_message(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"} | {"DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "cloud.workers"], env=env, capture_output=True, timeout=60, check=False
    )
    assert done.returncode == 2
    assert b"REDIS_URL must be set" in done.stderr
