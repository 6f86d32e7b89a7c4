"""docs/operations.md says what the worker schedules and runs, and how a PostgreSQL URL is refused."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

from cloud.settings import DatabaseSettings, load_settings
from cloud.store import UnsupportedDatabase, check_supported, open_store
from cloud.workers.main import FUNCTIONS, cron_jobs
from cloud.workers.settings import WorkerSettings

DOC = Path(__file__).resolve().parents[3] / "docs" / "operations.md"
UNSUPPORTED = DatabaseSettings("mysql://x@127.0.0.1/test")


def _section(title: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def _name(function: Any) -> str:
    return str(function.__name__)  # retry_transient keeps the job's name


def test_the_scheduled_jobs_are_exactly_the_workers_cron_jobs() -> None:
    loaded = load_settings({"REDIS_URL": "redis://127.0.0.1:1"})
    settings = WorkerSettings.from_settings(loaded)
    registered = [_name(job.function) for job in cron_jobs(settings, loaded.credit)]
    listed = re.findall(r"^- `(\w+)`", _section("Scheduled jobs"), re.M)
    assert listed == registered


def test_the_worker_paragraph_names_every_queued_job() -> None:
    worker = re.search(r"^- \*\*Worker\*\*:.*?(?=^- \*\*|\Z)", _section("Embedded defaults"), re.M | re.S)
    assert worker, "operations.md lost its Worker paragraph"
    named = set(re.findall(r"`(\w+)`", worker.group(0)))
    assert {_name(f) for f in FUNCTIONS} <= named


def test_the_refusal_of_an_unsupported_database_is_quoted_as_it_is_raised() -> None:
    with pytest.raises(UnsupportedDatabase) as refused:
        check_supported(UNSUPPORTED)
    message = str(refused.value)
    text = DOC.read_text(encoding="utf-8")
    assert f"`cloud.store.UnsupportedDatabase: {message}`" in text
    # The runner's line (cloud.runner.run; the ops test checks its exit code 1 and that nothing started).
    assert f"`error: {message}; stopping.`" in re.sub(r"\s*\n\s*", " ", text)
    # The API and the worker open the store through open_store, which refuses the same way.
    with pytest.raises(UnsupportedDatabase, match=re.escape(message)):
        asyncio.run(open_store(UNSUPPORTED))
