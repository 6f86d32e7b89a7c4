"""docs/privacy.md states the windows the per-user stress posterior really reads, the export's
fields and what erasure does to every table."""

from __future__ import annotations

import inspect
import re
import sqlite3
from pathlib import Path

import msgspec

from cloud.domain.admin.schemas import UserExport
from cloud.domain.analytics.posterior import WINDOW_DAYS
from cloud.domain.analytics.services import AnalyticsService
from cloud.settings import CreditSettings, load_settings
from cloud.settings_vars import VARS
from cloud.store.migrations import MIGRATIONS
from edge_sdk.privacy.settings import PrivacySettings

DOC = Path(__file__).resolve().parents[3] / "docs" / "privacy.md"


def test_the_evaluation_window_is_stress_window_days() -> None:
    text = DOC.read_text(encoding="utf-8")
    stated = re.search(r"`STRESS_WINDOW_DAYS` days long \(default (\d+)", text)
    assert stated, "privacy.md no longer names the evaluation's window"
    default = CreditSettings().stress_window_days
    assert int(stated.group(1)) == default == load_settings({}).credit.stress_window_days
    assert f"evaluation's {default}-day window" in text


def test_the_admin_endpoint_window_is_the_posterior_default() -> None:
    stated = re.search(r"admin endpoint reads a fixed (\d+) days", DOC.read_text(encoding="utf-8"))
    assert stated, "privacy.md no longer names the admin endpoint's window"
    assert int(stated.group(1)) == WINDOW_DAYS
    # The app builds the endpoint's service with its default window.
    assert inspect.signature(AnalyticsService).parameters["window_days"].default == WINDOW_DAYS


def test_the_export_fields_are_the_documents_in_order() -> None:
    text = DOC.read_text(encoding="utf-8")
    table = text[text.index("<!-- export-fields:start -->") : text.index("<!-- export-fields:end -->")]
    listed = re.findall(r"^\| `(\w+)` \|", table, re.M)
    assert listed == [f.name for f in msgspec.structs.fields(UserExport)]


def test_the_erasure_table_lists_every_table_of_the_schema() -> None:
    """A new table needs a decision about erasure: the doc's table must name it."""
    text = DOC.read_text(encoding="utf-8")
    table = text[text.index("<!-- erasure-table:start -->") : text.index("<!-- erasure-table:end -->")]
    listed = re.findall(r"^\| `(\w+)` \|", table, re.M)
    db = sqlite3.connect(":memory:")
    for migration in MIGRATIONS:
        db.executescript(migration.sql)
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    # The engines' own bookkeeping table, created outside the migrations.
    tables |= {"schema_migrations"}
    assert sorted(listed) == sorted(tables - {"sqlite_sequence"})
    assert len(listed) == len(set(listed))


def test_the_retention_table_states_every_retention_setting_and_its_default() -> None:
    text = DOC.read_text(encoding="utf-8")
    table = text[text.index("<!-- retention-table:start -->") : text.index("<!-- retention-table:end -->")]
    stated = dict(re.findall(r"`(RETENTION_\w+)` \((\d+) days\)", table))
    declared = {v.name: str(v.default) for v in VARS if v.name.startswith("RETENTION_")}
    assert stated == declared
    loaded = load_settings({}).retention
    assert [int(stated[n]) for n in sorted(stated)] == [
        loaded.aggregates_days,
        loaded.change_log_days,
        loaded.outbox_days,
        loaded.push_attempts_days,
    ]


def test_the_device_retention_periods_are_the_sdks_defaults() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert f"`PrivacySettings.retention_days`, {PrivacySettings().retention_days} days" in text
    notice_days = PrivacySettings().notice_retention_days
    assert f"`PrivacySettings.notice_retention_days`, {notice_days} days" in text
    assert f"`PrivacySettings.notice_retention_days` ({notice_days})" in text
