"""The pure rules of operator accounts: roles, the login delay, session and CSRF tokens."""

from __future__ import annotations

import hashlib
from typing import Final

from cloud.store.records import OperatorRole

ROLE_RANK: Final = {OperatorRole.VIEWER: 0, OperatorRole.OPERATOR: 1, OperatorRole.ADMIN: 2}
"""Each role may do what the roles below it may."""

SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})

SESSION_PREFIX: Final = "eco_"
"""Operator session tokens start with this, so a token's kind is told without a lookup."""
KEY_PREFIX: Final = "eck_"
"""Service keys start with this: ``eck_<key_id>_<secret>``."""


def split_key(token: str) -> tuple[str, str] | None:
    """``(key_id, secret)`` of a service key, or ``None`` if ``token`` is not shaped like one."""
    if not token.startswith(KEY_PREFIX):
        return None
    key_id, sep, secret = token[len(KEY_PREFIX) :].partition("_")
    if not sep or not key_id or not secret or len(key_id) > 32:
        return None
    return key_id, secret


LOGIN_DELAY_BASE_S: Final = 0.25
LOGIN_DELAY_MAX_S: Final = 4.0


def allows(role: OperatorRole, required: OperatorRole) -> bool:
    """Whether ``role`` may do what needs ``required``."""
    return ROLE_RANK[role] >= ROLE_RANK[required]


def required_role(method: str, declared: OperatorRole | None) -> OperatorRole:
    """The role a request needs: the route's declared one, else ``viewer`` to read and
    ``operator`` to change anything."""
    if declared is not None:
        return declared
    return OperatorRole.VIEWER if method in SAFE_METHODS else OperatorRole.OPERATOR


def login_delay_s(recent_failures: int) -> float:
    """Seconds a failed login waits before its answer: doubling with each recent failure of the
    same name (from 0.25 s), at most 4 s. The same for names that have no account."""
    if recent_failures <= 0:
        return 0.0
    return min(LOGIN_DELAY_MAX_S, LOGIN_DELAY_BASE_S * float(2 ** min(recent_failures - 1, 16)))


def csrf_token(session_token: str) -> str:
    """The CSRF token of a cookie session: derived from the session token, so nothing more is
    stored, and unknowable to a page of another origin, which cannot read the cookie."""
    return hashlib.sha256(b"ec-csrf:" + session_token.encode("utf-8")).hexdigest()[:32]
