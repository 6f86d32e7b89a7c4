"""The OpenAPI document under ``/schema`` and, when ``API_DOCS`` is on, a Swagger UI page served whole
by the app.

- ``/schema``, ``/schema/openapi.json``: the OpenAPI document as JSON; ``/schema/openapi.yaml``
  (``.yml``): the same as YAML. Always served.
- ``/schema/swagger`` (and its ``oauth2-redirect.html``): Swagger UI, only with ``API_DOCS`` on (the
  default in development, off in production). Its script, style sheet and icon come from the
  ``swagger-ui-bundle-v2`` package (Swagger UI, Apache-2.0; the version is pinned in
  ``pyproject.toml``) and are served by the app under ``/schema/assets/``, so the page loads nothing
  from a CDN, whose files could change under a fixed URL.
- Any other path under ``/schema`` is a ``404`` problem+json like every other unknown path (Litestar
  answers those with an HTML page of its own).

The document is Litestar's, generated from the typed handlers, then completed once by
:func:`complete_document` where Litestar cannot know the truth:

- every error answer is ``application/problem+json`` (:class:`sync.messages.Problem`) with the codes
  its status can carry (:func:`cloud.problems.codes_by_status`), in place of Litestar's own error
  shape; the statuses an operation can answer follow from what it takes (a body, parameters, a
  token) plus those its handler declares with :func:`problems`;
- ``/v1/sync`` and the two token endpoints read their bodies raw (one bad mutation must not reject
  a sync, spec §5.3), so their bodies and replies are declared here from the wire Structs, in both
  media types (msgpack and JSON); a pushed item is documented as an object with an integer
  ``seq`` (anything else about it is judged per mutation and answered in ``results``);
- the two bearer schemes (admin token, device access token);
- a body that may be omitted is marked so (Litestar marks every body required).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Final

import msgspec
from litestar import Litestar, Request, Response, Router, get
from litestar.exceptions import NotFoundException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import (
    JsonRenderPlugin,
    OpenAPIRenderPlugin,
    SwaggerRenderPlugin,
    YamlRenderPlugin,
)
from litestar.response import File
from litestar.routes import HTTPRoute
from swagger_ui_bundle import swagger_ui_path

from cloud.constants import (
    API_DOCS_ASSETS_PATH,
    API_DOCS_UI_PATH,
    ENROLL_PATH,
    OPENAPI_PATH,
    SYNC_PATH,
    TOKEN_PATH,
)
from cloud.problems import codes_by_status, problem_response
from sync.codec import PROBLEM_JSON, MediaType
from sync.codes import ErrorCode
from sync.limits import MAX_MUTATIONS
from sync.messages import EnrollRequest, Problem, RefreshRequest, SyncReply, SyncRequest, TokenPair

TITLE: Final = "Empathic Credit cloud"

# Only the files the page needs: the package's folder also holds a demo index.html that loads the
# Swagger petstore from the internet, which the app must not serve.
_ASSETS: Final = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui-standalone-preset.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}


def _asset_url(name: str) -> str:
    return f"{API_DOCS_ASSETS_PATH}/{name}"


@get(f"{API_DOCS_ASSETS_PATH.removeprefix(OPENAPI_PATH)}/{{name:str}}", include_in_schema=False)
async def _asset(request: Request[Any, Any, Any]) -> File:
    # Read from the request, as the controllers do: no path-parameter injection markers.
    name = str(request.path_params["name"])
    media_type = _ASSETS.get(name)
    if media_type is None:
        raise NotFoundException(f"no docs asset {name!r}")
    return File(Path(swagger_ui_path) / name, media_type=media_type, content_disposition_type="inline")


def _not_found_as_problem(response: Response[Any]) -> Response[Any]:
    # Litestar's schema router answers unknown paths under /schema with its own HTML 404 page.
    if response.status_code == 404:
        return problem_response(404, ErrorCode.NOT_FOUND, "Not Found", "no such page under /schema")
    return response


_REF: Final = "#/components/schemas/{name}"
_METHODS: Final = frozenset({"get", "put", "post", "delete", "patch"})
_WIRE_MEDIA: Final = (MediaType.MSGPACK.value, MediaType.JSON.value)

ADMIN_SCHEME: Final = "adminBearer"
"""The OpenAPI security scheme of the admin API."""
DEVICE_SCHEME: Final = "deviceBearer"
"""The OpenAPI security scheme of ``/v1/sync``: a device's access token (a JWT)."""
SECURITY_SCHEMES: Final = {
    ADMIN_SCHEME: {
        "type": "http",
        "scheme": "bearer",
        "description": "The operator's admin token (`ADMIN_TOKEN`).",
    },
    DEVICE_SCHEME: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A device's access token, from `/v1/devices/enroll` or `/v1/devices/token`.",
    },
}


def problems(*statuses: int) -> dict[int, ResponseSpec]:
    """A handler's own error answers (``responses=problems(409)``), beyond the ones that follow from
    its signature; :func:`complete_document` fills in their codes."""
    return {
        status: ResponseSpec(data_container=Problem, media_type=PROBLEM_JSON, generate_examples=False)
        for status in statuses
    }


def _problem_response(status: int, codes: dict[int, list[str]]) -> dict[str, Any]:
    known = codes.get(status, [])
    schema: dict[str, Any] = {"$ref": _REF.format(name="Problem")}
    if known:
        schema = {"allOf": [schema, {"properties": {"code": {"enum": known}}}]}
    description = "Problem details" + (f"; `code` is one of {', '.join(known)}" if known else "")
    return {"description": description, "content": {PROBLEM_JSON: {"schema": schema}}}


def _wire_content(name: str) -> dict[str, Any]:
    return {media: {"schema": {"$ref": _REF.format(name=name)}} for media in _WIRE_MEDIA}


_PUSH_ITEM: Final = {
    "type": "object",
    "required": ["seq"],
    "properties": {"seq": {"type": "integer", "minimum": 1, "maximum": 2**53}},
    "description": (
        "One mutation: a SubmitAggregate, AcceptOffer, DeclineOffer, SetConsent, RegisterPushToken, "
        "AckNotice or Withdrawn (their schemas are in the components). Only its `seq` is checked "
        "with the request: a mutation that does not decode or validate is refused on its own, "
        "`invalid_mutation` in `results`, and the rest of the push is applied."
    ),
}

# The handlers of these routes read the body raw; their bodies and replies are declared here.
_RAW_ROUTES: Final = {
    SYNC_PATH: ("SyncRequest", "SyncReply", (400, 401, 403, 409, 413, 415, 429)),
    ENROLL_PATH: ("EnrollRequest", "TokenPair", (400, 401, 403, 413, 415, 429)),
    TOKEN_PATH: ("RefreshRequest", "TokenPair", (400, 401, 403, 413, 415, 429)),
}


def _wire_schemas() -> dict[str, Any]:
    _, schemas = msgspec.json.schema_components(
        [SyncRequest, SyncReply, EnrollRequest, RefreshRequest, TokenPair, Problem], ref_template=_REF
    )
    push = schemas["SyncRequest"]["properties"]["push"]
    push["items"] = _PUSH_ITEM
    push["maxItems"] = MAX_MUTATIONS
    return schemas


def _handlers(app: Litestar) -> dict[tuple[str, str], Any]:
    found: dict[tuple[str, str], Any] = {}
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for handler in route.route_handlers:
                for method in handler.http_methods:
                    found[(route.path_format, method.lower())] = handler
    return found


def _statuses(op: dict[str, Any]) -> set[int]:
    """The error statuses that follow from what the operation takes."""
    statuses = {500, 503}
    params = op.get("parameters") or []
    if params or op.get("requestBody"):
        statuses.add(400)
    if op.get("requestBody"):
        statuses.add(413)
    if any(p.get("in") == "path" for p in params):
        statuses.add(404)
    if any(ADMIN_SCHEME in req for req in op.get("security") or []):
        statuses |= {401, 403}  # a missing credential; a role that does not allow it, or no CSRF token
    if any(DEVICE_SCHEME in req for req in op.get("security") or []):
        statuses |= {401, 429}  # a missing, invalid or expired device token; the device's limit
    return statuses


def complete_document(document: dict[str, Any], app: Litestar) -> dict[str, Any]:
    """Litestar's document with what it cannot know filled in (see the module docstring)."""
    doc = copy.deepcopy(document)
    components = doc.setdefault("components", {})
    components.setdefault("schemas", {}).update(_wire_schemas())
    components["securitySchemes"] = SECURITY_SCHEMES
    codes = codes_by_status()
    handlers = _handlers(app)
    for path, item in doc.get("paths", {}).items():
        for method, op in item.items():
            if method not in _METHODS:
                continue
            raw = _RAW_ROUTES.get(path)
            if raw is not None:
                body, reply, _ = raw
                op["requestBody"] = {"required": True, "content": _wire_content(body)}
                success = next(s for s in op["responses"] if s.startswith("2"))
                op["responses"][success] = {
                    "description": f"{reply}, in the request's media type",
                    "content": _wire_content(reply),
                }
                if path == SYNC_PATH:
                    op["security"] = [{DEVICE_SCHEME: []}]
            handler = handlers.get((path, method))
            data = handler.parsed_fn_signature.parameters.get("data") if handler is not None else None
            if data is not None and data.is_optional and "requestBody" in op:
                op["requestBody"]["required"] = False
            if "204" in op["responses"]:
                # No content, whatever the handler's return type says (a Response[None] for cookies).
                op["responses"]["204"].pop("content", None)
            wanted = _statuses(op) | set(raw[2] if raw else ())
            wanted |= {int(s) for s in op["responses"] if s[0] in "45"}
            for status in sorted(wanted):
                op["responses"][str(status)] = _problem_response(status, codes)
    return doc


class _Completed:
    """Mixin for render plugins: render :func:`complete_document` of the document, built once."""

    _done: dict[str, Any] | None = None

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        if self._done is None:
            self._done = complete_document(openapi_schema, request.app)
        rendered: bytes = super().render(request, self._done)  # type: ignore[misc]
        return rendered


class _Json(_Completed, JsonRenderPlugin):
    pass


class _Yaml(_Completed, YamlRenderPlugin):
    pass


class _Swagger(_Completed, SwaggerRenderPlugin):
    pass


def openapi_config(api_docs: bool) -> OpenAPIConfig:
    """``/schema``: the document always; the Swagger UI page and its assets only if ``api_docs``."""
    plugins: list[OpenAPIRenderPlugin] = [_Json(path=["/openapi.json", "/"]), _Yaml()]
    handlers = []
    if api_docs:
        icon = f"<link rel='icon' type='image/png' href='{_asset_url('favicon-32x32.png')}'>"
        plugins.append(
            _Swagger(
                js_url=_asset_url("swagger-ui-bundle.js"),
                css_url=_asset_url("swagger-ui.css"),
                standalone_preset_js_url=_asset_url("swagger-ui-standalone-preset.js"),
                path=API_DOCS_UI_PATH.removeprefix(OPENAPI_PATH),
                favicon=icon,
            )
        )
        handlers.append(_asset)
    router = Router(
        OPENAPI_PATH, route_handlers=handlers, include_in_schema=False, after_request=_not_found_as_problem
    )
    return OpenAPIConfig(
        title=TITLE, version="1", path=OPENAPI_PATH, render_plugins=plugins, openapi_router=router
    )
