"""The factory refuses to build a production app with default secrets, and builds otherwise."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from cloud.app import create_app
from cloud.settings import InsecureSettings, load_settings


def test_production_with_default_secrets_refuses_to_start(tmp_path: Path) -> None:
    settings = dataclasses.replace(load_settings({"DATA_DIR": str(tmp_path)}), env="production")
    with pytest.raises(InsecureSettings):
        create_app(settings)


def test_production_with_own_secrets_builds(tmp_path: Path) -> None:
    settings = load_settings(
        {"ENV": "production", "DATA_DIR": str(tmp_path), "ADMIN_TOKEN": "a" * 40, "JWT_SECRET": "j" * 48}
    )
    app = create_app(settings)
    paths = {route.path for route in app.routes}
    assert {
        "/v1/sync",
        "/v1/devices/enroll",
        "/v1/devices/token",
        "/health/ready",
        "/v1/admin/users",
    } <= paths
