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
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from litestar import Request, Response, Router, get
from litestar.exceptions import NotFoundException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import (
    JsonRenderPlugin,
    OpenAPIRenderPlugin,
    SwaggerRenderPlugin,
    YamlRenderPlugin,
)
from litestar.response import File
from swagger_ui_bundle import swagger_ui_path

from cloud.constants import API_DOCS_ASSETS_PATH, API_DOCS_UI_PATH, OPENAPI_PATH
from cloud.problems import problem_response
from sync.codes import ErrorCode

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


def openapi_config(api_docs: bool) -> OpenAPIConfig:
    """``/schema``: the document always; the Swagger UI page and its assets only if ``api_docs``."""
    plugins: list[OpenAPIRenderPlugin] = [JsonRenderPlugin(path=["/openapi.json", "/"]), YamlRenderPlugin()]
    handlers = []
    if api_docs:
        icon = f"<link rel='icon' type='image/png' href='{_asset_url('favicon-32x32.png')}'>"
        plugins.append(
            SwaggerRenderPlugin(
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
