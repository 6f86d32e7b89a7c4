"""Operator sign-in and account management under ``/v1/admin``.

Login, logout and ``me`` serve every operator; the bootstrap takes the static admin token; the
account routes and the auth audit need the ``admin`` role.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post, put
from litestar.datastructures import Cookie
from litestar.params import FromPath, JSONBody, QueryParameter

from cloud.api_docs import problems
from cloud.constants import ADMIN_PREFIX, CSRF_COOKIE, SESSION_COOKIE
from cloud.deps import ADMIN_SECURITY, OperatorsDep, PrincipalDep, StrictBody, admin_guard
from cloud.domain.admin.paging import DEFAULT_PAGE, MAX_PAGE
from cloud.domain.operators.schemas import (
    AuthEventsPage,
    Bootstrap,
    CreateOperator,
    CreateServiceKey,
    Login,
    OperatorOut,
    OperatorsOut,
    ServiceKeyCreated,
    ServiceKeyOut,
    ServiceKeysOut,
    SessionOut,
    SetRole,
    WhoAmI,
)
from cloud.ratelimit import Scope, client_address
from cloud.request_context import current_actor
from cloud.services import services_of
from cloud.store.records import OperatorRole

Limit = Annotated[int, QueryParameter(ge=1, le=MAX_PAGE, description="Rows a page")]
Cursor = Annotated[str | None, QueryParameter(max_length=512, description="`next_cursor` of the page before")]


def _cookies(request: Request[Any, Any, Any], session: str, csrf: str, max_age: int) -> list[Cookie]:
    # Strict: a page of another site never makes the browser send them. Secure behind TLS (the
    # scheme a trusted proxy forwarded), so a plain-HTTP development server still works.
    secure = request.url.scheme == "https"
    common: dict[str, Any] = {"path": "/", "samesite": "strict", "secure": secure, "max_age": max_age}
    return [
        Cookie(key=SESSION_COOKIE, value=session, httponly=True, **common),
        Cookie(key=CSRF_COOKIE, value=csrf, httponly=False, **common),
    ]


class SessionController(Controller):
    path = ADMIN_PREFIX
    tags = ["operators"]

    @post("/login", status_code=200, dto=StrictBody[Login], responses=problems(401, 429))
    async def login(
        self, request: Request[Any, Any, Any], operators: OperatorsDep, data: JSONBody[Login]
    ) -> Response[SessionOut]:
        """Sign in: a session token for ``Authorization: Bearer``, and the same session as the
        ``ec_session`` cookie (with ``ec_csrf``) for the dashboard. Every refusal is
        ``401 login_failed``; the per-address limit comes before any password is hashed."""
        address = client_address(request)
        await services_of(request).limiter.check(Scope.LOGIN, address)
        session = await operators.login(data.username, data.password, address)
        ttl_s = services_of(request).settings.operators.session_ttl_s
        return Response(session, cookies=_cookies(request, session.token, session.csrf_token, ttl_s))

    @post(
        "/logout",
        status_code=204,
        guards=[admin_guard],
        security=ADMIN_SECURITY,
        opt={"role": OperatorRole.VIEWER},
    )
    async def logout(
        self, request: Request[Any, Any, Any], operators: OperatorsDep, principal: PrincipalDep
    ) -> Response[None]:
        """End this session (bearer or cookie) at once, and clear the cookies."""
        await operators.logout(principal, client_address(request))
        return Response(None, status_code=204, cookies=_cookies(request, "", "", 0))

    @get("/me", guards=[admin_guard], security=ADMIN_SECURITY)
    async def me(self, principal: PrincipalDep) -> WhoAmI:
        """Who this credential is, and its role."""
        return WhoAmI(actor=principal.actor, role=principal.role)

    @post(
        "/operators/bootstrap",
        status_code=201,
        dto=StrictBody[Bootstrap],
        security=ADMIN_SECURITY,
        responses=problems(401, 409),
    )
    async def bootstrap(
        self, request: Request[Any, Any, Any], operators: OperatorsDep, data: JSONBody[Bootstrap]
    ) -> OperatorOut:
        """The first admin account, with the static admin token (in production too), while no
        account exists; ``409 bootstrap_closed`` after."""
        return await operators.bootstrap(request.headers.get("authorization"), data, client_address(request))


class OperatorController(Controller):
    path = ADMIN_PREFIX
    guards = [admin_guard]
    security = ADMIN_SECURITY
    opt = {"role": OperatorRole.ADMIN}
    tags = ["operators"]

    @get("/operators")
    async def list_operators(self, operators: OperatorsDep) -> OperatorsOut:
        """Every operator account, oldest first (never a password hash)."""
        return await operators.list()

    @post("/operators", status_code=201, dto=StrictBody[CreateOperator], responses=problems(409))
    async def create_operator(
        self, request: Request[Any, Any, Any], operators: OperatorsDep, data: JSONBody[CreateOperator]
    ) -> OperatorOut:
        """A new account with a role; ``409 operator_exists`` for a taken username."""
        return await operators.create(data, current_actor(), client_address(request))

    @put("/operators/{username:str}/role", dto=StrictBody[SetRole], responses=problems(409))
    async def set_role(
        self,
        request: Request[Any, Any, Any],
        username: FromPath[str],
        operators: OperatorsDep,
        data: JSONBody[SetRole],
    ) -> OperatorOut:
        """Change an account's role, at once for its live sessions; ``409 last_admin`` if no
        enabled admin would be left."""
        return await operators.set_role(username, data.role, current_actor(), client_address(request))

    @post("/operators/{username:str}/disable", status_code=200, responses=problems(409))
    async def disable(
        self, request: Request[Any, Any, Any], username: FromPath[str], operators: OperatorsDep
    ) -> OperatorOut:
        """Disable an account and end its sessions; ``409 last_admin`` for the last enabled admin."""
        return await operators.disable(username, current_actor(), client_address(request))

    @post("/service-keys", status_code=201, dto=StrictBody[CreateServiceKey])
    async def create_key(
        self, request: Request[Any, Any, Any], operators: OperatorsDep, data: JSONBody[CreateServiceKey]
    ) -> ServiceKeyCreated:
        """A key for the lender's backend or another program (role ``viewer`` or ``operator``),
        shown once; rate-limited per key (``RATE_LIMIT_SERVICE``), never locked out by logins."""
        return await operators.create_key(data, current_actor(), client_address(request))

    @get("/service-keys")
    async def list_keys(self, operators: OperatorsDep) -> ServiceKeysOut:
        """Every key, revoked ones too, oldest first (never a secret)."""
        return await operators.list_keys()

    @post("/service-keys/{key_id:str}/revoke", status_code=200)
    async def revoke_key(
        self, request: Request[Any, Any, Any], key_id: FromPath[str], operators: OperatorsDep
    ) -> ServiceKeyOut:
        """Revoke a key: its next request is refused."""
        return await operators.revoke_key(key_id, current_actor(), client_address(request))

    @get("/auth-audit")
    async def auth_audit(
        self, operators: OperatorsDep, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE
    ) -> AuthEventsPage:
        """Every login, failure, lockout, logout and account change, newest first (a page)."""
        return await operators.auth_events(cursor, limit)
