"""The verified-token cache of ``/v1/sync``: a hit skips verification, nothing else changes."""

from __future__ import annotations

import time
from typing import Any

import pytest

from cloud.domain.devices.services import DeviceService
from cloud.domain.devices.tokens import DeviceClaims, VerifiedTokenCache
from cloud.errors import TokenExpired, TokenInvalid
from cloud.settings import AuthSettings

AUTH = AuthSettings(admin_token="a" * 40, jwt_secret="s" * 64, jwt_kid="k1", access_ttl_s=60)


class Clock:
    def __init__(self) -> None:
        self.now = int(time.time() * 1000)

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def service() -> tuple[DeviceService, Clock]:
    clock = Clock()
    return DeviceService(store=None, auth=AUTH, clock=clock), clock  # type: ignore[arg-type]


def _counting(service: DeviceService) -> list[str]:
    calls: list[str] = []
    verify = service.tokens.verify_access

    def counted(token: str) -> Any:
        calls.append(token)
        return verify(token)

    service.tokens.verify_access = counted  # type: ignore[method-assign]
    return calls


def test_a_verified_token_is_not_verified_again_until_it_expires(
    service: tuple[DeviceService, Clock],
) -> None:
    devices, clock = service
    token, expires_at = devices.tokens.issue_access("dev_1", "usr_1", clock.now)
    calls = _counting(devices)
    first = devices.authenticate(f"Bearer {token}")
    assert (
        devices.authenticate(f"Bearer {token}")
        == first
        == DeviceClaims(device_id="dev_1", user_id="usr_1", expires_at_ms=expires_at)
    )
    assert calls == [token]
    # At its expiry the entry goes and the full check answers.
    clock.now = expires_at
    devices.verified.get(token, clock.now)
    assert len(devices.verified) == 0


def test_an_expired_cached_token_is_token_expired(service: tuple[DeviceService, Clock]) -> None:
    devices, clock = service
    token, expires_at = devices.tokens.issue_access("dev_1", "usr_1", clock.now - 59_000)
    devices.authenticate(f"Bearer {token}")
    clock.now = expires_at + 1
    time.sleep(max(0.0, (expires_at + 1) / 1000 - time.time()))  # PyJWT reads the real clock
    with pytest.raises(TokenExpired):
        devices.authenticate(f"Bearer {token}")


def test_a_refused_token_is_never_cached(service: tuple[DeviceService, Clock]) -> None:
    devices, clock = service
    token, _ = devices.tokens.issue_access("dev_1", "usr_1", clock.now)
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    for _ in range(2):
        with pytest.raises(TokenInvalid):
            devices.authenticate(f"Bearer {tampered}")
    assert len(devices.verified) == 0


def test_only_the_exact_token_is_trusted() -> None:
    cache = VerifiedTokenCache()
    claims = DeviceClaims(device_id="d", user_id="u", expires_at_ms=10_000)
    cache.put("abc", claims)
    assert cache.get("abc", 0) == claims
    assert cache.get("abcd", 0) is None and cache.get("ab", 0) is None


def test_the_cache_is_bounded_oldest_first() -> None:
    cache = VerifiedTokenCache(max_entries=3)
    for name in "abcd":
        cache.put(name, DeviceClaims(device_id=name, user_id="u", expires_at_ms=10_000))
    assert len(cache) == 3
    assert cache.get("a", 0) is None and cache.get("d", 0) is not None
