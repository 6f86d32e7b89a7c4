"""The operator accounts' request and reply bodies."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import msgspec

from cloud.store.records import OperatorRole

Username = Annotated[
    str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9._-]{2,63}$", description="3..64 of a-z 0-9 . _ -")
]
NewPassword = Annotated[str, msgspec.Meta(min_length=12, max_length=256, description="12..256 characters")]


class Login(msgspec.Struct, forbid_unknown_fields=True):
    username: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


class Bootstrap(msgspec.Struct, forbid_unknown_fields=True):
    """The first admin account: created once, with the static admin token, while there is none."""

    username: Username
    password: NewPassword


class CreateOperator(msgspec.Struct, forbid_unknown_fields=True):
    username: Username
    password: NewPassword
    role: OperatorRole


class SetRole(msgspec.Struct, forbid_unknown_fields=True):
    role: OperatorRole


class OperatorOut(msgspec.Struct):
    username: str
    role: OperatorRole
    created_at: int
    disabled: bool
    locked_until: int | None
    """Epoch milliseconds while the account is locked, else ``null``."""


class OperatorsOut(msgspec.Struct):
    items: list[OperatorOut]


class SessionOut(msgspec.Struct):
    """A login's answer: the bearer token (also set as the ``ec_session`` cookie) and the CSRF
    token a cookie-authenticated write sends back in ``X-CSRF-Token``."""

    token: str
    csrf_token: str
    expires_at: int
    username: str
    role: OperatorRole


class WhoAmI(msgspec.Struct):
    actor: str
    """``operator:<username>``, or ``admin`` for the development token."""
    role: OperatorRole


class AuthEventOut(msgspec.Struct):
    audit_id: int
    at: int
    event: str
    username: str
    actor: str | None
    address: str | None
    detail: str | None


class AuthEventsPage(msgspec.Struct):
    items: list[AuthEventOut]
    next_cursor: str | None


class KeyRole(StrEnum):
    """A service key's role: never ``admin``, so a program cannot manage accounts or keys."""

    VIEWER = "viewer"
    OPERATOR = "operator"


class CreateServiceKey(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[
        str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$", description="1..64 of a-z 0-9 . _ -")
    ]
    role: KeyRole


class ServiceKeyOut(msgspec.Struct):
    key_id: str
    name: str
    role: KeyRole
    created_at: int
    created_by: str
    revoked: bool


class ServiceKeyCreated(msgspec.Struct):
    """A new key: ``key`` (``Authorization: Bearer <key>``) is shown this once and stored hashed."""

    key: str
    key_id: str
    name: str
    role: KeyRole
    created_at: int


class ServiceKeysOut(msgspec.Struct):
    items: list[ServiceKeyOut]
