"""Access-token issue and verification, without a server."""

from __future__ import annotations

import base64
import hmac
import time

import jwt
import pytest

from cloud.domain.devices.services import bearer_token
from cloud.domain.devices.tokens import TokenIssuer, hash_secret
from cloud.errors import TokenExpired, TokenInvalid, TokenMissing
from cloud.settings import AuthSettings

AUTH = AuthSettings(admin_token="a", jwt_secret="s" * 64, jwt_kid="k7", access_ttl_s=60)


def test_issue_and_verify_round_trip() -> None:
    issuer = TokenIssuer(AUTH)
    now = int(time.time() * 1000)
    token, expires_at = issuer.issue_access("dev_1", "usr_1", now)
    assert jwt.get_unverified_header(token)["kid"] == "k7"
    claims = issuer.verify_access(token)
    assert (claims.device_id, claims.user_id) == ("dev_1", "usr_1")
    assert claims.expires_at_ms == expires_at
    assert abs(expires_at - now - 60_000) <= 1000


def test_expired_token() -> None:
    issuer = TokenIssuer(AUTH)
    token, _ = issuer.issue_access("dev_1", "usr_1", int(time.time() * 1000) - 3_600_000)
    with pytest.raises(TokenExpired):
        issuer.verify_access(token)


def test_token_signed_with_another_kid_is_invalid() -> None:
    token, _ = TokenIssuer(AuthSettings(admin_token="a", jwt_secret="s" * 64, jwt_kid="k8")).issue_access(
        "dev_1", "usr_1", int(time.time() * 1000)
    )
    with pytest.raises(TokenInvalid):
        TokenIssuer(AUTH).verify_access(token)


def test_hs384_token_is_refused_even_with_the_right_key() -> None:
    now = int(time.time())
    claims = {"iss": "empathic-credit", "aud": "ec-device", "sub": "d", "uid": "u", "iat": now}
    claims |= {"exp": now + 60, "jti": "j"}
    token = jwt.encode(claims, AUTH.jwt_secret, algorithm="HS384", headers={"kid": "k7"})
    with pytest.raises(TokenInvalid):
        TokenIssuer(AUTH).verify_access(token)


def test_successor_refresh_token_is_deterministic_and_distinct() -> None:
    issuer = TokenIssuer(AUTH)
    a = issuer.successor_refresh_token("rt-a")
    assert a == issuer.successor_refresh_token("rt-a")
    assert a != issuer.successor_refresh_token("rt-b") and a != "rt-a"
    other_key = TokenIssuer(AuthSettings(admin_token="a", jwt_secret="t" * 40))
    assert other_key.successor_refresh_token("rt-a") != a


def test_successor_derivation_survives_a_jwt_secret_rotation() -> None:
    before = AuthSettings(admin_token="a", jwt_secret="s" * 64, refresh_derivation_key="d" * 40)
    rotated = AuthSettings(admin_token="a", jwt_secret="n" * 64, refresh_derivation_key="d" * 40)
    token = TokenIssuer(before).successor_refresh_token("rt-a")
    assert TokenIssuer(rotated).successor_refresh_token("rt-a") == token
    other = AuthSettings(admin_token="a", jwt_secret="s" * 64, refresh_derivation_key="e" * 40)
    assert TokenIssuer(other).successor_refresh_token("rt-a") != token


def test_successor_key_defaults_to_one_derived_from_the_jwt_secret() -> None:
    # Unset, the derivation key is the JWT secret: setting it to the old secret before rotating
    # the JWT secret keeps every successor.
    default = TokenIssuer(AuthSettings(admin_token="a", jwt_secret="s" * 64))
    explicit = TokenIssuer(
        AuthSettings(admin_token="a", jwt_secret="n" * 64, refresh_derivation_key="s" * 64)
    )
    assert default.successor_refresh_token("rt-a") == explicit.successor_refresh_token("rt-a")
    # The key is used through a labelled sub-key, never raw.
    raw = hmac.new(b"s" * 64, b"rt-a", "sha256").digest()
    assert default.successor_refresh_token("rt-a") != base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_hash_secret_is_sha256_hex() -> None:
    assert hash_secret("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


@pytest.mark.parametrize(
    ("header", "error"),
    [(None, TokenMissing), ("", TokenMissing), ("Bearer", TokenMissing), ("Token x", TokenInvalid)],
)
def test_bearer_token_rejections(header: str | None, error: type[Exception]) -> None:
    with pytest.raises(error):
        bearer_token(header)


def test_bearer_token_is_case_insensitive() -> None:
    assert bearer_token("bearer abc") == "abc"


def test_a_rotated_key_still_verifies_its_tokens_until_dropped() -> None:
    old = TokenIssuer(AuthSettings(admin_token="a", jwt_secret="o" * 64, jwt_kid="k6"))
    token, _ = old.issue_access("dev_1", "usr_1", int(time.time() * 1000))
    rotated = TokenIssuer(
        AuthSettings(
            admin_token="a", jwt_secret="s" * 64, jwt_kid="k7", previous_jwt_keys=(("k6", "o" * 64),)
        )
    )
    assert rotated.verify_access(token).device_id == "dev_1"
    new, _ = rotated.issue_access("dev_1", "usr_1", int(time.time() * 1000))
    assert jwt.get_unverified_header(new)["kid"] == "k7"  # only the current key signs
    with pytest.raises(TokenInvalid, match="unknown key id"):
        TokenIssuer(AUTH).verify_access(token)  # the previous key dropped
    # A token naming a previous kid but signed with another secret is still refused.
    forged = jwt.encode(
        jwt.decode(token, options={"verify_signature": False}), "x" * 64, headers={"kid": "k6"}
    )
    with pytest.raises(TokenInvalid):
        rotated.verify_access(forged)
