"""The factory refuses to build a production app with default secrets, and builds otherwise; ``ENV``
accepts only its exact known values."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from cloud.app import create_app
from cloud.settings import ENVS, InsecureSettings, UnknownEnvironment, load_settings


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


@pytest.mark.parametrize(
    "value", ["prod", "Production", "PRODUCTION", "production ", "dev", "test", "staging"]
)
def test_unknown_env_is_refused_listing_the_accepted_values(tmp_path: Path, value: str) -> None:
    # Default secrets and a fault hook too: a mistyped production must not start with them.
    env = {"ENV": value, "DATA_DIR": str(tmp_path), "FAULT_EXIT_AFTER_COMMIT": "1"}
    with pytest.raises(UnknownEnvironment, match=r"^ENV must be one of development, production\b") as caught:
        load_settings(env)
    assert repr(value) in str(caught.value)
    assert isinstance(caught.value, ValueError)  # the runner's and the worker's exit-2 path


def test_known_env_values_load(tmp_path: Path) -> None:
    assert ENVS == ("development", "production")
    assert load_settings({"DATA_DIR": str(tmp_path)}).env == "development"
    assert load_settings({"DATA_DIR": str(tmp_path), "ENV": ""}).env == "development"
    assert load_settings({"DATA_DIR": str(tmp_path), "ENV": "development"}).env == "development"
    production = load_settings(
        {"ENV": "production", "DATA_DIR": str(tmp_path), "ADMIN_TOKEN": "a" * 40, "JWT_SECRET": "j" * 48}
    )
    assert production.is_production


def test_settings_built_directly_refuse_an_unknown_env(tmp_path: Path) -> None:
    settings = load_settings({"DATA_DIR": str(tmp_path)})
    with pytest.raises(UnknownEnvironment, match="ENV must be one of"):
        dataclasses.replace(settings, env="prod")
