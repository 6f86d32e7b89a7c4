"""Enrollment and refresh-token rotation, and authentication of device requests."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Final

import msgspec

from cloud.clock import now_ms
from cloud.domain.devices.tokens import (
    DeviceClaims,
    TokenIssuer,
    VerifiedTokenCache,
    hash_secret,
    new_refresh_token,
)
from cloud.errors import RefreshInvalid, RefreshReused, TokenExpired, TokenInvalid, TokenMissing
from cloud.settings import AuthSettings
from cloud.store.errors import DeviceRevoked
from cloud.store.protocol import Store
from cloud.store.records import RefreshGrant, RotationKind
from sync.messages import EnrollRequest, RefreshRequest, TokenPair

_BEARER: Final = "bearer "


def new_device_id() -> str:
    return "dev_" + secrets.token_hex(12)


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer …`` header; ``TokenMissing`` when absent."""
    authorization = (authorization or "").strip()
    if not authorization or authorization.lower() == _BEARER.strip():
        raise TokenMissing()
    if not authorization[: len(_BEARER)].lower() == _BEARER:
        raise TokenInvalid("expected a Bearer token")
    token = authorization[len(_BEARER) :].strip()
    if not token:
        raise TokenMissing()
    return token


class DeviceService:
    """Device identity: enroll with a one-time code, rotate refresh tokens, verify access tokens."""

    def __init__(self, store: Store, auth: AuthSettings, clock: Callable[[], int] = now_ms) -> None:
        self._store = store
        self._auth = auth
        self._clock = clock
        self.tokens = TokenIssuer(auth)
        self.verified = VerifiedTokenCache()
        """Device access tokens already verified on ``/v1/sync`` (:meth:`authenticate`)."""

    def _pair(self, device_id: str, user_id: str, refresh_token: str, now: int) -> TokenPair:
        access, access_exp = self.tokens.issue_access(device_id, user_id, now)
        return TokenPair(
            device_id=device_id,
            user_id=user_id,
            access_token=access,
            access_expires_at=access_exp,
            refresh_token=refresh_token,
            refresh_expires_at=now + self._auth.refresh_ttl_s * 1000,
        )

    async def enroll(self, request: EnrollRequest) -> TokenPair:
        """Trade a one-time code for a new device identity and its first token pair.

        ``replaces_device_id`` (re-enrollment of a restored store) continues that device's
        lineage and revokes it; it must be a device of the code's user.
        """
        now = self._clock()
        refresh = new_refresh_token()
        device_id = new_device_id()
        device = await self._store.enroll_device(
            code_hash=hash_secret(request.code),
            device_id=device_id,
            platform=request.platform.value,
            app_version=request.app_version,
            refresh=RefreshGrant(
                token_hash=hash_secret(refresh), expires_at=now + self._auth.refresh_ttl_s * 1000
            ),
            now=now,
            replaces_device_id=request.replaces_device_id,
        )
        return self._pair(device.device_id, device.user_id, refresh, now)

    async def refresh(self, request: RefreshRequest) -> TokenPair:
        """Rotate: spend the presented refresh token and answer with a new pair.

        The most recently spent token replays the same pair within the grace period (a lost
        reply must not lock a device out); later, as long as its successor was never used, it
        gets that successor with a newly issued access token (the cached one may have expired).
        A cached access token the server would no longer accept (signing key rotated) is
        replaced by a new one even within the grace period.
        A spent token whose successor was used, or any older one, revokes the device's tokens.
        """
        now = self._clock()
        device = await self._store.get_device(request.device_id)
        if device is None:
            raise RefreshInvalid()
        if device.revoked:
            raise DeviceRevoked()
        successor = self.tokens.successor_refresh_token(request.refresh_token)
        pair = self._pair(device.device_id, device.user_id, successor, now)
        # The cached answer leaves the refresh token out: a replay derives it again.
        cached = msgspec.msgpack.encode(msgspec.structs.replace(pair, refresh_token=""))
        outcome = await self._store.rotate_refresh(
            device_id=device.device_id,
            presented_hash=hash_secret(request.refresh_token),
            successor=RefreshGrant(token_hash=hash_secret(successor), expires_at=pair.refresh_expires_at),
            cached_successor=cached,
            grace_ms=self._auth.refresh_reuse_grace_s * 1000,
            now=now,
        )
        if outcome.kind is RotationKind.ROTATED:
            return pair
        if outcome.kind is RotationKind.REPLAYED and outcome.cached_successor is not None:
            replayed = msgspec.msgpack.decode(outcome.cached_successor, type=TokenPair)
            if outcome.reissue_access or not self._still_valid(replayed.access_token):
                # ``pair`` holds an access token issued just now; the refresh token and its
                # expiry stay those of the stored successor.
                replayed = msgspec.structs.replace(
                    replayed, access_token=pair.access_token, access_expires_at=pair.access_expires_at
                )
            return msgspec.structs.replace(replayed, refresh_token=successor)
        if outcome.kind is RotationKind.REUSED:
            raise RefreshReused()
        if outcome.kind is RotationKind.DEVICE_REVOKED:
            raise DeviceRevoked()
        raise RefreshInvalid()

    def _still_valid(self, access_token: str) -> bool:
        """Whether a cached access token would still be accepted (not expired, key not rotated)."""
        try:
            self.tokens.verify_access(access_token)
        except (TokenExpired, TokenInvalid):
            return False
        return True

    def authenticate(self, authorization: str | None) -> DeviceClaims:
        """Verified claims of the request's bearer access token (``/v1/sync``).

        A token verified before and not yet expired is taken from :attr:`verified`; any other is
        verified in full, and cached only when it passes.
        """
        token = bearer_token(authorization)
        claims = self.verified.get(token, self._clock())
        if claims is None:
            claims = self.tokens.verify_access(token)
            self.verified.put(token, claims)
        return claims
