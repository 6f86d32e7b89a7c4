"""The rate limit settings: rates as ``limits`` reads them, ``off``, trusted proxies; and the limiter's
decisions over the memory storage (the Redis storage is tested against live servers)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from cloud.errors import RateLimited
from cloud.ratelimit import RATE_LIMIT_VARS, RateLimiter, Scope
from cloud.settings import RateLimitSettings, load_settings, rate_limit, trusted_proxies


def _load(tmp_path: Path, **env: str) -> RateLimitSettings:
    return load_settings({"DATA_DIR": str(tmp_path), **env}).rate_limits


def test_defaults_are_the_documented_ones(tmp_path: Path) -> None:
    limits = _load(tmp_path)
    assert (limits.sync, limits.enroll, limits.refresh, limits.login) == (
        "120/minute",
        "60/10 minutes",
        "600/minute",
        "10/minute",
    )
    assert limits.service == "1200/minute"
    assert limits.trusted_proxies == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "120/minute"),
        ("  ", "120/minute"),
        ("5/second", "5/second"),
        ("60/10 minutes", "60/10 minutes"),
        ("100 per hour", "100 per hour"),
        ("off", None),
    ],
)
def test_a_rate_is_read_as_limits_reads_it(text: str, expected: str | None) -> None:
    assert rate_limit("RATE_LIMIT_SYNC", text, "120/minute") == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("120", "is not a rate"),
        ("fast", "is not a rate"),
        ("10/fortnight", "is not a rate"),
        ("0/minute", "allows nothing"),
        ("OFF", "is not a rate"),
    ],
)
@pytest.mark.parametrize("name", RATE_LIMIT_VARS)
def test_a_rate_that_cannot_be_meant_is_refused_naming_its_setting(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    with pytest.raises(ValueError, match=f"{name}: .*{re.escape(message)}"):
        _load(tmp_path, **{name: text})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ()),
        ("10.0.0.1", ("10.0.0.1/32",)),
        ("10.0.0.0/8, 192.168.1.7", ("10.0.0.0/8", "192.168.1.7/32")),
        ("10.1.2.3/8", ("10.0.0.0/8",)),
        ("::1", ("::1/128",)),
    ],
)
def test_trusted_proxies_are_addresses_or_networks(text: str, expected: tuple[str, ...]) -> None:
    assert trusted_proxies(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [("*", "would let any client set its own address"), ("proxy.internal", "is not an IP address")],
)
def test_trusted_proxies_refuse_a_wildcard_and_names(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"TRUSTED_PROXIES: .*{re.escape(message)}"):
        _load(tmp_path, TRUSTED_PROXIES=text)


def test_the_limiter_counts_per_scope_and_subject() -> None:
    async def scenario() -> int:
        limiter = RateLimiter(RateLimitSettings(sync="2/minute", enroll="1/minute", refresh=None), None)
        for _ in range(2):
            await limiter.check(Scope.SYNC, "device-a")
        with pytest.raises(RateLimited) as refused:
            await limiter.check(Scope.SYNC, "device-a")
        await limiter.check(Scope.SYNC, "device-b")  # another device has its own budget
        await limiter.check(Scope.ENROLL, "device-a")  # another scope too
        for _ in range(50):
            await limiter.check(Scope.REFRESH, "10.0.0.1")  # off: never refused
        await limiter.close()
        return refused.value.retry_after_s

    assert 1 <= asyncio.run(scenario()) <= 60
