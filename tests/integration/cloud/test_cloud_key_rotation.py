"""Rotating the access-token signing key (docs/operations.md, "Key rotation") on a real server: a
device's token signed with the old key keeps working while that key is listed in
``JWT_PREVIOUS_KEYS``; new tokens carry the new ``kid``; once the old key is dropped its tokens are
``token_invalid`` and the device refreshes with the same identity."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx
import jwt

from sync.codec import MediaType, decode_tokens, encode
from sync.messages import RefreshRequest, TokenPair
from tests.support.live_server import LiveServer, post_sync, sync_body, sync_ok

OLD, NEW = secrets.token_urlsafe(48), secrets.token_urlsafe(48)


def refresh(server: LiveServer, tokens: TokenPair) -> TokenPair:
    body = encode(
        RefreshRequest(device_id=tokens.device_id, refresh_token=tokens.refresh_token), MediaType.JSON
    )
    reply = httpx.post(
        server.base_url + "/v1/devices/token",
        content=body,
        headers={"Content-Type": MediaType.JSON.value},
        timeout=10.0,
    )
    assert reply.status_code == 200, reply.text
    return decode_tokens(reply.content, MediaType.JSON)


def restart(server: LiveServer, **env: str) -> None:
    server.stop()
    server.extra_env.update(env)
    server.start()


def test_a_rotation_keeps_every_device_signed_in(tmp_path: Path, redis_url: str) -> None:
    with LiveServer(tmp_path, redis_url, env={"JWT_KID": "k1", "JWT_SECRET": OLD}) as server:
        tokens = server.new_device()
        offline = server.new_device()  # offline through both restarts: holds only its k1 tokens
        assert jwt.get_unverified_header(tokens.access_token)["kid"] == "k1"

        restart(
            server, JWT_KID="k2", JWT_SECRET=NEW, JWT_PREVIOUS_KEYS=f"k1:{OLD}", REFRESH_DERIVATION_KEY=OLD
        )
        sync_ok(server, tokens)  # the k1 token still verifies
        renewed = refresh(server, tokens)
        assert jwt.get_unverified_header(renewed.access_token)["kid"] == "k2"
        assert renewed.device_id == tokens.device_id

        restart(server, JWT_PREVIOUS_KEYS="")
        stale = post_sync(server, tokens.access_token, sync_body(tokens.device_id))
        assert stale.status_code == 401 and stale.json()["code"] == "token_invalid"
        sync_ok(server, renewed)
        # The device that slept through it all: its k1 token is refused, its refresh token is not.
        refused = post_sync(server, offline.access_token, sync_body(offline.device_id))
        assert refused.status_code == 401 and refused.json()["code"] == "token_invalid"
        back = refresh(server, offline)
        assert (
            back.device_id == offline.device_id
            and jwt.get_unverified_header(back.access_token)["kid"] == "k2"
        )
        sync_ok(server, back)
