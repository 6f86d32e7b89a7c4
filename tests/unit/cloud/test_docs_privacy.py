"""docs/privacy.md states the windows the per-user stress posterior really reads."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import msgspec

from cloud.domain.admin.schemas import UserExport
from cloud.domain.analytics.posterior import WINDOW_DAYS
from cloud.domain.analytics.services import AnalyticsService
from cloud.settings import CreditSettings, load_settings

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
