"""When ``make run`` runs its demo: development, the embedded SQLite, a new data folder, DEMO on."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloud.ratelimit import DEVICE_RATE_LIMIT_VARS
from cloud.runner import _child_env, _demo_due
from cloud.settings import load_settings
from tests.support.secrets import PRODUCTION_ENV


@pytest.mark.parametrize(
    ("extra", "existing_file", "due"),
    [
        ({}, False, True),
        ({"DEMO": "1"}, False, True),
        ({"DEMO": "0"}, False, False),
        ({}, True, False),  # an existing data folder is left as it is
        ({"DATABASE_URL": "postgresql://127.0.0.1:5432/x"}, False, False),
        ({"DATABASE_URL": "sqlite:///{dir}/other.sqlite3"}, False, False),  # named explicitly
        (PRODUCTION_ENV, False, False),
    ],
)
def test_demo_due(tmp_path: Path, extra: dict[str, str], existing_file: bool, due: bool) -> None:
    env = {"DATA_DIR": str(tmp_path), **{k: v.format(dir=tmp_path) for k, v in extra.items()}}
    if existing_file:
        (tmp_path / "cloud.sqlite3").write_bytes(b"")
    assert _demo_due(load_settings(env)) is due


def test_demo_refuses_a_word_it_does_not_know(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^DEMO "):
        load_settings({"DATA_DIR": str(tmp_path), "DEMO": "maybe"})


def test_the_api_serves_the_demo_without_rate_limits_unless_they_are_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in DEVICE_RATE_LIMIT_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RATE_LIMIT_SYNC", "5/minute")
    settings = load_settings({"DATA_DIR": str(tmp_path)})
    demo = _child_env(settings, "redis://127.0.0.1:1", demo_due=True)
    assert [demo[name] for name in DEVICE_RATE_LIMIT_VARS] == ["5/minute", "off", "off"]
    plain = _child_env(settings, "redis://127.0.0.1:1", demo_due=False)
    assert [plain.get(name) for name in DEVICE_RATE_LIMIT_VARS] == ["5/minute", None, None]
