"""The factory refuses to build a production app with weak or shared secrets, and builds otherwise;
``ENV`` accepts only its exact known values."""

from __future__ import annotations

import dataclasses
import re
import secrets
from pathlib import Path

import pytest

from cloud.app import create_app
from cloud.constants import DEFAULT_ADMIN_TOKEN, DEFAULT_JWT_SECRET
from cloud.settings import (
    ENVS,
    MIN_SECRET_CHARS,
    MIN_SECRET_DISTINCT_CHARS,
    BlankSecret,
    DefaultSecret,
    InsecureSettings,
    LowVarietySecret,
    SharedSecret,
    ShortSecret,
    UnknownEnvironment,
    load_settings,
    previous_jwt_keys,
)
from tests.support.secrets import ADMIN_TOKEN, JWT_SECRET, PRODUCTION_ENV, REFRESH_DERIVATION_KEY


def test_production_with_default_secrets_refuses_to_start(tmp_path: Path) -> None:
    settings = dataclasses.replace(load_settings({"DATA_DIR": str(tmp_path)}), env="production")
    with pytest.raises(InsecureSettings):
        create_app(settings)


def test_production_with_own_secrets_builds(tmp_path: Path) -> None:
    settings = load_settings({"DATA_DIR": str(tmp_path), **PRODUCTION_ENV})
    app = create_app(settings)
    paths = {route.path for route in app.routes}
    assert {
        "/v1/sync",
        "/v1/devices/enroll",
        "/v1/devices/token",
        "/health/ready",
        "/v1/admin/users",
    } <= paths


_RANDOM_31 = JWT_SECRET[:31]
_LOW_VARIETY_7 = "0123456" * 6  # 42 characters, 7 different ones


@pytest.mark.parametrize(
    ("env", "refused", "message"),
    [
        ({"ADMIN_TOKEN": ""}, DefaultSecret, "ADMIN_TOKEN must be set in production"),
        ({"ADMIN_TOKEN": DEFAULT_ADMIN_TOKEN}, DefaultSecret, "ADMIN_TOKEN must be set"),
        ({"JWT_SECRET": DEFAULT_JWT_SECRET}, DefaultSecret, "JWT_SECRET must be set"),
        ({"REFRESH_DERIVATION_KEY": DEFAULT_JWT_SECRET}, DefaultSecret, "REFRESH_DERIVATION_KEY must be set"),
        ({"JWT_SECRET": " " * 40}, BlankSecret, "JWT_SECRET is blank"),
        ({"ADMIN_TOKEN": " \t\n\r" * 10}, BlankSecret, "ADMIN_TOKEN is blank"),
        ({"REFRESH_DERIVATION_KEY": "\u00a0" * 32}, BlankSecret, "REFRESH_DERIVATION_KEY is blank"),
        ({"ADMIN_TOKEN": _RANDOM_31}, ShortSecret, "ADMIN_TOKEN must be >= 32 characters"),
        ({"JWT_SECRET": _RANDOM_31}, ShortSecret, "JWT_SECRET must be >= 32 characters"),
        ({"REFRESH_DERIVATION_KEY": _RANDOM_31}, ShortSecret, "REFRESH_DERIVATION_KEY must be >= 32"),
        ({"ADMIN_TOKEN": "a" * 40}, LowVarietySecret, "ADMIN_TOKEN must have >= 8 different characters"),
        ({"JWT_SECRET": "ab" * 20}, LowVarietySecret, "JWT_SECRET must have >= 8 different"),
        ({"JWT_SECRET": "password" * 4}, LowVarietySecret, "got 7"),
        ({"REFRESH_DERIVATION_KEY": _LOW_VARIETY_7}, LowVarietySecret, "REFRESH_DERIVATION_KEY must have"),
        ({"JWT_SECRET": ADMIN_TOKEN}, SharedSecret, "ADMIN_TOKEN and JWT_SECRET must differ"),
        ({"REFRESH_DERIVATION_KEY": ADMIN_TOKEN}, SharedSecret, "ADMIN_TOKEN and REFRESH_DERIVATION_KEY"),
        ({"REFRESH_DERIVATION_KEY": JWT_SECRET}, SharedSecret, "JWT_SECRET and REFRESH_DERIVATION_KEY"),
        ({"JWT_PREVIOUS_KEYS": "k0:" + _RANDOM_31}, ShortSecret, "JWT_PREVIOUS_KEYS[k0] must be >= 32"),
        ({"JWT_PREVIOUS_KEYS": "k0:" + JWT_SECRET}, SharedSecret, "JWT_SECRET and JWT_PREVIOUS_KEYS[k0]"),
        (
            {"JWT_PREVIOUS_KEYS": "k0:" + DEFAULT_JWT_SECRET},
            DefaultSecret,
            "JWT_PREVIOUS_KEYS[k0] must be set",
        ),
    ],
    ids=[
        "admin-token-unset",
        "admin-token-default",
        "jwt-secret-default",
        "derivation-key-default-jwt-secret",
        "jwt-secret-spaces",
        "admin-token-mixed-whitespace",
        "derivation-key-no-break-spaces",
        "admin-token-31-chars",
        "jwt-secret-31-chars",
        "derivation-key-31-chars",
        "admin-token-one-char-repeated",
        "jwt-secret-two-chars-repeated",
        "jwt-secret-password-repeated",
        "derivation-key-7-distinct",
        "admin-token-is-jwt-secret",
        "admin-token-is-derivation-key",
        "jwt-secret-is-derivation-key",
        "previous-key-31-chars",
        "previous-key-is-jwt-secret",
        "previous-key-default",
    ],
)
def test_production_refuses_weak_or_shared_secrets(
    tmp_path: Path, env: dict[str, str], refused: type[InsecureSettings], message: str
) -> None:
    with pytest.raises(refused, match=re.escape(message)):
        load_settings({"DATA_DIR": str(tmp_path), **PRODUCTION_ENV, **env})
    assert issubclass(refused, InsecureSettings)  # the runner's and the worker's exit-2 path
    # The same values are no problem in development.
    assert load_settings({"DATA_DIR": str(tmp_path), **PRODUCTION_ENV, **env, "ENV": "development"})


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"REFRESH_DERIVATION_KEY": ""},
        {"ADMIN_TOKEN": "abcdefgh" * 4},
        {"JWT_SECRET": secrets.token_urlsafe(48)},
        {"ADMIN_TOKEN": secrets.token_hex(16)},
        {"JWT_SECRET": "correct horse battery staple 4 ever"},
        {"JWT_PREVIOUS_KEYS": f"k0:{secrets.token_urlsafe(40)}, old:{secrets.token_hex(20)}"},
    ],
    ids=[
        "three-random-secrets",
        "derivation-key-unset",
        "32-chars-8-distinct",
        "token-urlsafe-48",
        "token-hex-16",
        "passphrase-with-spaces",
        "two-previous-keys",
    ],
)
def test_production_accepts_secrets_that_follow_the_rule(tmp_path: Path, env: dict[str, str]) -> None:
    settings = load_settings({"DATA_DIR": str(tmp_path), **PRODUCTION_ENV, **env})
    assert settings.is_production
    assert settings.auth.admin_token == env.get("ADMIN_TOKEN", ADMIN_TOKEN)
    assert settings.auth.jwt_secret == env.get("JWT_SECRET", JWT_SECRET)


def test_the_rule_is_the_documented_one() -> None:
    assert (MIN_SECRET_CHARS, MIN_SECRET_DISTINCT_CHARS) == (32, 8)
    operations = (Path(__file__).resolve().parents[3] / "docs" / "operations.md").read_text()
    assert "at least 32 characters long (`ShortSecret`)" in operations
    assert "at least 8 different characters (`LowVarietySecret`" in operations
    assert "secrets.token_urlsafe(48)" in operations


def test_development_accepts_short_secrets(tmp_path: Path) -> None:
    settings = load_settings({"DATA_DIR": str(tmp_path), "ADMIN_TOKEN": "a", "REFRESH_DERIVATION_KEY": "r"})
    assert settings.auth.admin_token == "a" and settings.auth.refresh_derivation_key == "r"


def test_refresh_derivation_key_is_optional(tmp_path: Path) -> None:
    assert load_settings({"DATA_DIR": str(tmp_path)}).auth.refresh_derivation_key is None
    production = load_settings({"DATA_DIR": str(tmp_path), **PRODUCTION_ENV})
    assert production.auth.refresh_derivation_key == REFRESH_DERIVATION_KEY


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
    production = load_settings({"DATA_DIR": str(tmp_path), **PRODUCTION_ENV})
    assert production.is_production


def test_settings_built_directly_refuse_an_unknown_env(tmp_path: Path) -> None:
    settings = load_settings({"DATA_DIR": str(tmp_path)})
    with pytest.raises(UnknownEnvironment, match="ENV must be one of"):
        dataclasses.replace(settings, env="prod")


@pytest.mark.parametrize(
    ("env", "docs"),
    [
        ({}, True),
        ({"API_DOCS": ""}, True),
        ({"API_DOCS": "0"}, False),
        ({"API_DOCS": "off"}, False),
        (PRODUCTION_ENV, False),
        ({**PRODUCTION_ENV, "API_DOCS": "1"}, True),
        ({**PRODUCTION_ENV, "API_DOCS": "true"}, True),
    ],
    ids=["dev-default", "dev-empty", "dev-off", "dev-off-word", "prod-default", "prod-on", "prod-on-word"],
)
def test_api_docs_default_follows_env(tmp_path: Path, env: dict[str, str], docs: bool) -> None:
    assert load_settings({"DATA_DIR": str(tmp_path), **env}).api.docs is docs


def test_api_docs_refuses_other_values(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="API_DOCS must be 1/true or 0/false"):
        load_settings({"DATA_DIR": str(tmp_path), "API_DOCS": "maybe"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ()),
        ("  ", ()),
        ("k0:s0", (("k0", "s0"),)),
        ("k0:s0, k9:s:9", (("k0", "s0"), ("k9", "s:9"))),  # a secret may hold a colon, not a comma
        ("k0:s0,", (("k0", "s0"),)),
    ],
)
def test_previous_keys_are_kid_secret_pairs(text: str, expected: tuple[tuple[str, str], ...]) -> None:
    assert previous_jwt_keys(text, "k1") == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("k0", "entry 1 is not kid:secret"),
        ("k0:", "entry 1 is not kid:secret"),
        (":s0", "entry 1 is not kid:secret"),
        ("k0:s0,k2", "entry 2 is not kid:secret"),
        ("k1:s0", "'k1' is the current JWT_KID"),
        ("k0:s0,k0:s1", "'k0' is listed twice"),
    ],
)
def test_previous_keys_refuse_what_cannot_be_meant(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as refused:
        load_settings({"DATA_DIR": str(tmp_path), "JWT_PREVIOUS_KEYS": text})
    assert "s0" not in str(refused.value) and "s1" not in str(refused.value)  # never the secret
