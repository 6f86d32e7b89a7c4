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


@pytest.mark.parametrize(
    "env",
    [
        {"ADMIN_TOKEN": "a" * 31, "JWT_SECRET": "j" * 48},
        {"ADMIN_TOKEN": "a" * 40, "JWT_SECRET": "j" * 31},
        {"ADMIN_TOKEN": "a" * 40, "JWT_SECRET": "j" * 48, "REFRESH_DERIVATION_KEY": "r" * 31},
        {"JWT_SECRET": "j" * 48},
    ],
    ids=["short-admin-token", "short-jwt-secret", "short-derivation-key", "default-admin-token"],
)
def test_production_refuses_short_or_default_secrets(tmp_path: Path, env: dict[str, str]) -> None:
    with pytest.raises(InsecureSettings):
        load_settings({"ENV": "production", "DATA_DIR": str(tmp_path), **env})


def test_development_accepts_short_secrets(tmp_path: Path) -> None:
    settings = load_settings({"DATA_DIR": str(tmp_path), "ADMIN_TOKEN": "a", "REFRESH_DERIVATION_KEY": "r"})
    assert settings.auth.admin_token == "a" and settings.auth.refresh_derivation_key == "r"


def test_refresh_derivation_key_is_optional(tmp_path: Path) -> None:
    assert load_settings({"DATA_DIR": str(tmp_path)}).auth.refresh_derivation_key is None
    production = load_settings(
        {
            "ENV": "production",
            "DATA_DIR": str(tmp_path),
            "ADMIN_TOKEN": "a" * 32,
            "JWT_SECRET": "j" * 32,
            "REFRESH_DERIVATION_KEY": "r" * 32,
        }
    )
    assert production.auth.refresh_derivation_key == "r" * 32
