"""Access JWTs (HS256 through PyJWT directly) and opaque refresh tokens.

PyJWT is used rather than Litestar's ``Token.encode`` because the ``kid`` header must be set,
so keys can be rotated later. Verification pins the algorithm list (an ``alg: none`` or RS/HS
confusion token is refused), requires every claim, and checks issuer and audience.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid

import jwt
import msgspec

from cloud.constants import JWT_ALGORITHM, JWT_AUDIENCE_DEVICE, JWT_ISSUER
from cloud.errors import TokenExpired, TokenInvalid
from cloud.settings import AuthSettings

_REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "jti"]
_SUCCESSOR_LABEL = b"refresh-successor"
"""Fixed label of the successor sub-key (HKDF-expand style), so the root key is never used raw."""


class DeviceClaims(msgspec.Struct, frozen=True, kw_only=True):
    """What a verified access token says."""

    device_id: str
    user_id: str
    expires_at_ms: int


def hash_secret(value: str) -> str:
    """SHA-256 hex of a high-entropy secret (refresh token, enrollment code) for storage."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


class TokenIssuer:
    """Issues and verifies a device's tokens with the keys from settings."""

    def __init__(self, auth: AuthSettings) -> None:
        self._auth = auth
        # The current key signs; the previous ones only verify, until the tokens they signed expire.
        self._keys = {**dict(auth.previous_jwt_keys), auth.jwt_kid: auth.jwt_secret}
        root = auth.refresh_derivation_key or auth.jwt_secret
        self._successor_key = hmac.new(root.encode(), _SUCCESSOR_LABEL, "sha256").digest()

    def issue_access(self, device_id: str, user_id: str, now_ms: int) -> tuple[str, int]:
        """A signed access token and its expiry (epoch ms)."""
        iat = now_ms // 1000
        exp = iat + self._auth.access_ttl_s
        claims = {
            "iss": JWT_ISSUER,
            "aud": JWT_AUDIENCE_DEVICE,
            "sub": device_id,
            "uid": user_id,
            "iat": iat,
            "exp": exp,
            "jti": uuid.uuid4().hex,
        }
        token = jwt.encode(
            claims, self._auth.jwt_secret, algorithm=JWT_ALGORITHM, headers={"kid": self._auth.jwt_kid}
        )
        return token, exp * 1000

    def verify_access(self, token: str) -> DeviceClaims:
        """Verified claims; ``TokenExpired`` or ``TokenInvalid`` otherwise."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise TokenInvalid("malformed token") from exc
        key = self._keys.get(str(header.get("kid")))
        if key is None:
            raise TokenInvalid("unknown key id")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[JWT_ALGORITHM],
                audience=JWT_AUDIENCE_DEVICE,
                issuer=JWT_ISSUER,
                options={"require": _REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenExpired() from exc
        except jwt.InvalidTokenError as exc:
            raise TokenInvalid(type(exc).__name__) from exc
        device_id, user_id = claims.get("sub"), claims.get("uid")
        if not isinstance(device_id, str) or not isinstance(user_id, str):
            raise TokenInvalid("missing subject")
        return DeviceClaims(device_id=device_id, user_id=user_id, expires_at_ms=int(claims["exp"]) * 1000)

    def successor_refresh_token(self, presented: str) -> str:
        """The refresh token that replaces ``presented``, derived rather than random.

        Deriving it (HMAC under a sub-key of ``REFRESH_DERIVATION_KEY``) lets a replay of a spent
        token get the same new token back without the store ever holding a refresh token in the
        clear. The key is not the JWT signing key, so rotating ``JWT_SECRET`` leaves successors
        alone; if the derivation key does change, a replay re-keys the unused successor
        (:meth:`cloud.store.protocol.Store.rotate_refresh`).
        """
        mac = hmac.new(self._successor_key, presented.encode(), "sha256")
        return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode("ascii")


class VerifiedTokenCache:
    """Device access tokens already verified, so a device's next syncs skip the HMAC and the claim
    checks (measured: JWT verification was about a fifth of the event loop's time per sync).

    Keyed by the whole token string, so only the exact bytes that verified are trusted again; an
    entry is dropped the moment its token expires (then the full check answers ``token_expired``),
    and the oldest entries go first beyond ``max_entries``. Nothing else is cached: revocation is
    still seen, because the sync transaction reads the device row anyway. The keys are fixed for
    the life of the process, so no key id can be retired under a cached entry.
    """

    def __init__(self, max_entries: int = 10_000) -> None:
        self._max = max_entries
        self._entries: dict[str, DeviceClaims] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str, now_ms: int) -> DeviceClaims | None:
        claims = self._entries.get(token)
        if claims is not None and claims.expires_at_ms <= now_ms:
            del self._entries[token]
            return None
        return claims

    def put(self, token: str, claims: DeviceClaims) -> None:
        if token not in self._entries and len(self._entries) >= self._max:
            # Dicts keep insertion order: the first key is the oldest entry.
            del self._entries[next(iter(self._entries))]
        self._entries[token] = claims
