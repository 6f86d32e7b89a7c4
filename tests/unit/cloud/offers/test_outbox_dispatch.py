"""The API's fast path and the outbox settings: job ids, payloads, failures that never escape."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from cloud.outbox.enqueue import OutboxDispatcher, OutboxJob, enqueue_rows, outbox_job_id
from cloud.settings import OutboxSettings, load_settings
from cloud.store.records import OutboxRecord


def row(outbox_id: int, attempts: int = 0) -> OutboxRecord:
    return OutboxRecord(
        outbox_id=outbox_id,
        kind="apply_offer",
        payload=b"{}",
        state="pending",
        attempts=attempts,
        created_at=1,
        updated_at=1,
    )


class RecordingQueue:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.calls: list[tuple[str, object, str | None]] = []
        self.seen: set[str] = set()

    async def enqueue(self, function_name: str, payload: object, job_id: str | None = None) -> str | None:
        if self.fail:
            raise ConnectionError("redis is down")
        self.calls.append((function_name, payload, job_id))
        if job_id in self.seen:
            return None
        self.seen.add(str(job_id))
        return job_id


def test_job_id_names_the_row_and_the_attempt() -> None:
    assert outbox_job_id(12, 0) == "12:0"
    assert outbox_job_id(12, 3) == "12:3"


def test_enqueue_rows_uses_kind_attempt_and_job_id() -> None:
    queue = RecordingQueue()
    assert asyncio.run(enqueue_rows(queue, [row(1), row(2, attempts=2), row(1)])) == 2
    assert queue.calls == [
        ("apply_offer", OutboxJob(outbox_id=1, attempt=0), "1:0"),
        ("apply_offer", OutboxJob(outbox_id=2, attempt=2), "2:2"),
        ("apply_offer", OutboxJob(outbox_id=1, attempt=0), "1:0"),
    ]


def test_dispatch_failure_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        asyncio.run(OutboxDispatcher(RecordingQueue(fail=True)).dispatch([row(1)]))
    assert "left to the relay" in caplog.text and "redis is down" in caplog.text


def test_dispatch_without_queue_leaves_rows_to_the_relay(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        asyncio.run(OutboxDispatcher(None).dispatch([row(1)]))
    assert "no job queue" in caplog.text


def test_dispatch_of_nothing_does_nothing(caplog: pytest.LogCaptureFixture) -> None:
    queue = RecordingQueue(fail=True)
    with caplog.at_level(logging.WARNING):
        asyncio.run(OutboxDispatcher(queue).dispatch([]))
    assert caplog.text == ""


def test_outbox_settings_defaults(tmp_path: Path) -> None:
    assert load_settings({"DATA_DIR": str(tmp_path)}).outbox == OutboxSettings(
        queue_name="ec:queue",
        relay_timeout_s=30.0,
        relay_interval_s=5.0,
        max_attempts=5,
        fault_kinds=frozenset(),
    )


def test_outbox_settings_from_env(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "DATA_DIR": str(tmp_path),
            "QUEUE_NAME": "q2",
            "OUTBOX_RELAY_TIMEOUT_S": "0.5",
            "OUTBOX_RELAY_INTERVAL_S": "0.1",
            "OUTBOX_MAX_ATTEMPTS": "2",
            "OUTBOX_FAULT_KINDS": " apply_offer, send_push ,",
        }
    )
    assert settings.outbox == OutboxSettings(
        queue_name="q2",
        relay_timeout_s=0.5,
        relay_interval_s=0.1,
        max_attempts=2,
        fault_kinds=frozenset({"apply_offer", "send_push"}),
    )


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("OUTBOX_RELAY_TIMEOUT_S", "soon", "must be a number"),
        ("OUTBOX_RELAY_TIMEOUT_S", "0", r"must be in \(0, 3600\]"),
        ("OUTBOX_RELAY_INTERVAL_S", "-1", r"must be in \(0, 600\]"),
        ("OUTBOX_RELAY_INTERVAL_S", "nan", "must be a finite number"),
        ("OUTBOX_MAX_ATTEMPTS", "0", "must be in 2..100"),
        ("OUTBOX_MAX_ATTEMPTS", "1", "must be in 2..100"),
        ("OUTBOX_MAX_ATTEMPTS", "two", "must be an integer"),
    ],
)
def test_bad_outbox_settings_are_refused(tmp_path: Path, name: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_settings({"DATA_DIR": str(tmp_path), name: value})
