"""Request helpers written once, for every typed handler: the strict body, the services, the admin guard.

- :class:`StrictBody` decodes a handler's ``data`` with msgspec in strict mode
  (:func:`cloud.wire.decode_json_body`), where Litestar's own conversion is lax (``1500.0`` and
  ``"1500"`` would become the integer 1500, which money must refuse). The OpenAPI request body is
  still declared from the same Struct, so the document and the decoder cannot disagree.
- :data:`DEPENDENCIES` provides the services built at start-up by name (``admin: NamedDependency[
  AdminService]``), so a handler states what it uses in its signature.
- :func:`admin_guard` checks the admin credential (session, cookie with CSRF, service key or the
  development token) and the route's role before the body is read.

The sync and token endpoints do not use these: one bad mutation must not reject a whole sync
(spec §5.3), so they read their bodies raw and decode each mutation on its own (``cloud.wire``).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, Final, TypeAlias, TypeVar

import msgspec
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.dto import AbstractDTO
from litestar.dto.data_structures import DTOFieldDefinition
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi.spec import Reference, Schema
from litestar.typing import FieldDefinition

from cloud.api_docs import ADMIN_SCHEME, DEVICE_SCHEME
from cloud.constants import CSRF_HEADER, SESSION_COOKIE
from cloud.domain.admin.services import AdminService
from cloud.domain.analytics.services import AnalyticsService
from cloud.domain.credit.services import EvaluationService
from cloud.domain.dashboard.services import DashboardService
from cloud.domain.health.services import DoctorService
from cloud.domain.offers.operations import OutboxOperations
from cloud.domain.offers.services import OfferService
from cloud.domain.operators.rules import allows, required_role
from cloud.domain.operators.services import OperatorService, Principal
from cloud.domain.releases.services import ReleaseService
from cloud.errors import RoleForbidden
from cloud.ratelimit import Scope
from cloud.request_context import set_actor
from cloud.services import Services, services_of
from cloud.wire import decode_json_body

T = TypeVar("T")

ADMIN_SECURITY: Final[list[dict[str, list[str]]]] = [{ADMIN_SCHEME: []}]
DEVICE_SECURITY: Final[list[dict[str, list[str]]]] = [{DEVICE_SCHEME: []}]


def _all_fields_optional(body_type: type[Any]) -> bool:
    return all(
        f.default is not msgspec.NODEFAULT or f.default_factory is not msgspec.NODEFAULT
        for f in msgspec.structs.fields(body_type)
    )


class StrictBody(AbstractDTO[T]):
    """``dto=StrictBody[X]`` with ``data: JSONBody[X]``: the body decoded strictly, documented as ``X``.

    Not a transfer-model DTO: it keeps Litestar's body extraction (an empty body is "no body", so a
    ``data: JSONBody[X | None] = None`` makes the body optional) and replaces only the decoding and
    the schema. A body of blanks reads as ``{}`` when every field of ``X`` has a default.
    """

    @classmethod
    def create_for_field_definition(
        cls, field_definition: FieldDefinition, handler_id: str, backend_cls: Any = None
    ) -> None:
        # No transfer model to build: decode_bytes and create_openapi_schema use model_type directly.
        return None

    @classmethod
    def generate_field_definitions(cls, model_type: type[Any]) -> Generator[DTOFieldDefinition, None, None]:
        yield from ()

    @classmethod
    def detect_nested_field(cls, field_definition: FieldDefinition) -> bool:
        return False

    @classmethod
    def is_supported_model_type_field(cls, field_definition: FieldDefinition) -> bool:
        # Never the return DTO: replies are encoded by Litestar from their own Structs.
        return False

    def decode_bytes(self, value: bytes) -> Any:
        return decode_json_body(value, self.model_type, optional=_all_fields_optional(self.model_type))

    def decode_builtins(self, value: dict[str, Any]) -> Any:
        # Only form bodies arrive as builtins, and no handler declares one.
        raise NotImplementedError("StrictBody decodes JSON bytes only")

    @classmethod
    def create_openapi_schema(
        cls, field_definition: FieldDefinition, handler_id: str, schema_creator: Any
    ) -> Reference | Schema:
        schema: Reference | Schema = schema_creator.for_field_definition(
            FieldDefinition.from_annotation(cls.model_type)
        )
        return schema


def _provider(name: str) -> Provide:
    def provide(state: State) -> Any:
        services: Services = state.services
        return getattr(services, name)

    return Provide(provide, sync_to_thread=False)


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    """The admitted request's principal (set on the request's state by :func:`admin_guard`)."""
    principal: Principal = request.state.principal
    return principal


DEPENDENCIES: Final = {
    **{
        name: _provider(name)
        for name in (
            "admin",
            "offers",
            "analytics",
            "credit",
            "outbox",
            "dashboard",
            "doctor",
            "operators",
            "releases",
        )
    },
    "principal": Provide(provide_principal, sync_to_thread=False),
}
"""The services a handler may name, resolved per request from ``app.state.services``."""


AdminDep: TypeAlias = NamedDependency[AdminService]
OffersDep: TypeAlias = NamedDependency[OfferService]
AnalyticsDep: TypeAlias = NamedDependency[AnalyticsService]
CreditDep: TypeAlias = NamedDependency[EvaluationService]
OutboxDep: TypeAlias = NamedDependency[OutboxOperations]
DashboardDep: TypeAlias = NamedDependency[DashboardService]
DoctorDep: TypeAlias = NamedDependency[DoctorService]
OperatorsDep: TypeAlias = NamedDependency[OperatorService]
ReleasesDep: TypeAlias = NamedDependency[ReleaseService]
PrincipalDep: TypeAlias = NamedDependency[Principal]
"""A handler parameter named after its entry in :data:`DEPENDENCIES` (``admin: AdminDep``)."""


async def admin_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Admit the request if its credential is live and its role allows the route, before the
    body is read: ``401 admin_unauthorized``, ``403 csrf_failed`` or ``403 role_forbidden``
    otherwise. A route declares the role it needs with ``opt={"role": ...}``; else reading needs
    ``viewer`` and anything else ``operator``. Every admin write then records the principal's
    actor (:func:`cloud.request_context.current_actor`)."""
    method = str(connection.scope.get("method", "GET"))
    principal = await services_of(connection).operators.authenticate(
        authorization=connection.headers.get("authorization"),
        cookie=connection.cookies.get(SESSION_COOKIE),
        csrf=connection.headers.get(CSRF_HEADER),
        method=method,
    )
    if principal.key_id is not None:
        await services_of(connection).limiter.check(Scope.SERVICE, principal.key_id)
    required = required_role(method, handler.opt.get("role"))
    if not allows(principal.role, required):
        raise RoleForbidden(f"this needs the {required} role; {principal.actor} has {principal.role}")
    set_actor(principal.actor)
    connection.state.principal = principal
