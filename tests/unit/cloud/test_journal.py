"""The rights journal: appended events read back from a time on; a line cut by a crash is skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloud.journal import RightsEvent, RightsJournal


def test_events_are_read_back_from_a_time_on_and_a_cut_line_is_skipped(tmp_path: Path) -> None:
    journal = RightsJournal(tmp_path / "journal", host="api-1")
    other_host = RightsJournal(tmp_path / "journal", host="api-2")
    assert journal.read(0) == [] and journal.files() == []
    # Made offline long before it was recorded: what counts for a backup is when it was recorded.
    first = RightsEvent(
        kind="consent_revoked", at=1, recorded_at=10, user_id="u1", scope="push", device_id="d1"
    )
    second = RightsEvent(kind="user_erased", at=20, recorded_at=20, user_id="u2")
    between = RightsEvent(kind="user_erased", at=15, recorded_at=15, user_id="u3")
    journal.append([first])
    with journal.path.open("ab") as f:
        f.write(b'{"kind":"user_erased","at":15,"us')  # a crash mid-line
        f.write(b"\n")
    journal.append([second])
    journal.append([])
    other_host.append([between])
    assert journal.read(0) == [first, between, second]  # every host's file, in recorded order
    assert journal.read(11) == [between, second]
    assert [p.name for p in journal.files()] == ["rights-api-1.jsonl", "rights-api-2.jsonl"]
    assert journal.path.stat().st_mode & 0o777 == 0o600


def test_a_journal_that_cannot_be_written_is_logged_and_does_not_fail_the_caller(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    RightsJournal(blocked / "journal").append(
        [RightsEvent(kind="user_erased", at=1, recorded_at=1, user_id="u")]
    )
    assert "could not be written: 1 events" in caplog.text
