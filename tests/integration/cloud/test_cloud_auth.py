"""Device access tokens on ``/v1/sync``: every way a JWT can be wrong, each changing nothing."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest

from sync.codes import ErrorCode
from sync.messages import TokenPair
from tests.support.consent import grant_share_aggregates_over_http
from tests.support.live_server import LiveServer, day_of, post_sync, sample_aggregate, sync_body, sync_ok

pytestmark = pytest.mark.engines("sqlite", "postgres")


def _claims(tokens: TokenPair, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": "empathic-credit",
        "aud": "ec-device",
        "sub": tokens.device_id,
        "uid": tokens.user_id,
        "iat": now,
        "exp": now + 600,
        "jti": "test",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(server: LiveServer, claims: dict[str, Any], key: str | None = None, kid: str | None = None) -> str:
    return jwt.encode(
        claims, key or server.jwt_secret, algorithm="HS256", headers={"kid": kid or server.jwt_kid}
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(claims: dict[str, Any], kid: str) -> str:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": kid}).encode())
    return f"{header}.{_b64(json.dumps(claims).encode())}."


@pytest.fixture
def device(live_server: LiveServer) -> TokenPair:
    tokens = live_server.new_device()
    grant_share_aggregates_over_http(live_server, tokens.user_id)
    reply = sync_ok(live_server, tokens, [sample_aggregate(1, day_of(0))])
    assert [r.status for r in reply.results] == ["applied"]
    return tokens


def _bad_tokens(server: LiveServer, tokens: TokenPair) -> dict[str, tuple[str, str]]:
    """case -> (token, expected code)."""
    past = int(time.time()) - 3600
    return {
        "expired": (_sign(server, _claims(tokens, iat=past - 600, exp=past)), ErrorCode.TOKEN_EXPIRED),
        "wrong_key": (
            _sign(server, _claims(tokens), key="another-secret-of-enough-length-0123"),
            "token_invalid",
        ),
        "alg_none": (_unsigned(_claims(tokens), server.jwt_kid), ErrorCode.TOKEN_INVALID),
        "wrong_audience": (_sign(server, _claims(tokens, aud="ec-admin")), ErrorCode.TOKEN_INVALID),
        "wrong_issuer": (_sign(server, _claims(tokens, iss="someone-else")), ErrorCode.TOKEN_INVALID),
        "unknown_kid": (_sign(server, _claims(tokens), kid="k9"), ErrorCode.TOKEN_INVALID),
        "missing_exp": (_sign(server, _claims(tokens, exp=None)), ErrorCode.TOKEN_INVALID),
        "garbage": ("not.a.jwt", ErrorCode.TOKEN_INVALID),
        "tampered": (tokens.access_token[:-4] + "AAAA", ErrorCode.TOKEN_INVALID),
    }


@pytest.mark.parametrize(
    "case",
    [
        "expired",
        "wrong_key",
        "alg_none",
        "wrong_audience",
        "wrong_issuer",
        "unknown_kid",
        "missing_exp",
        "garbage",
        "tampered",
    ],
)
def test_bad_access_token_is_401_and_changes_nothing(
    live_server: LiveServer, device: TokenPair, case: str
) -> None:
    token, code = _bad_tokens(live_server, device)[case]
    before = live_server.device(device.device_id, device.user_id)
    response = post_sync(live_server, token, sync_body(device.device_id, [sample_aggregate(2, day_of(1))]))
    assert response.status_code == 401, response.text
    assert response.json()["code"] == code
    assert live_server.device(device.device_id, device.user_id) == before
    assert len(live_server.user_view(device.user_id)["aggregates"]) == 1


def test_a_correctly_signed_token_is_accepted(live_server: LiveServer, device: TokenPair) -> None:
    # Control for the cases above: the same construction with nothing wrong works.
    token = _sign(live_server, _claims(device))
    response = post_sync(live_server, token, sync_body(device.device_id))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, ErrorCode.TOKEN_MISSING),
        ("Bearer", ErrorCode.TOKEN_MISSING),
        ("Basic abc", ErrorCode.TOKEN_INVALID),
    ],
)
def test_missing_or_non_bearer_authorization_is_401(
    live_server: LiveServer, device: TokenPair, header: str | None, code: str
) -> None:
    before = live_server.device(device.device_id, device.user_id)
    headers = {} if header is None else {"Authorization": header}
    body = sync_body(device.device_id, [sample_aggregate(2, day_of(1))])
    response = post_sync(live_server, None, body, headers=headers)
    assert response.status_code == 401 and response.json()["code"] == code
    assert live_server.device(device.device_id, device.user_id) == before


def test_token_of_a_device_the_server_does_not_know_is_401_token_invalid(live_server: LiveServer) -> None:
    # A correctly signed token whose device row is gone (the server's data was restored from a
    # backup older than the enrollment): the identity no longer exists.
    tokens = live_server.new_device()
    ghost = "dev_" + "0" * 24
    token = _sign(live_server, _claims(tokens, sub=ghost))
    response = post_sync(live_server, token, sync_body(ghost, [sample_aggregate(1, day_of(0))]))
    assert response.status_code == 401, response.text
    assert response.json()["code"] == ErrorCode.TOKEN_INVALID
    assert live_server.user_view(tokens.user_id)["aggregates"] == []
