"""``/schema``: the OpenAPI document always; the docs page only with ``API_DOCS`` on, and then loading
nothing from outside the app."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from tests.support.live_server import LiveServer

# Every docs UI Litestar can render, the Swagger OAuth2 helper page and the Swagger UI files.
UI_PAGES = (
    "/schema/swagger",
    "/schema/redoc",
    "/schema/scalar",
    "/schema/elements",
    "/schema/rapidoc",
    "/schema/oauth2-redirect.html",
)
ASSETS = ("/schema/assets/swagger-ui-bundle.js", "/schema/assets/swagger-ui.css")


class _References(HTMLParser):
    """Collects the URLs a page makes the browser load: scripts, style sheets, icons, images, frames."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href", "img": "src", "iframe": "src"}.get(tag)
        for name, value in attrs:
            if name == wanted and value:
                self.urls.append(value)


def _references(html: str) -> list[str]:
    parser = _References()
    parser.feed(html)
    return parser.urls


def _is_external(url: str, base: str) -> bool:
    return urlsplit(urljoin(base, url)).netloc != urlsplit(base).netloc


def test_development_docs_page_loads_only_files_the_app_serves(live_server: LiveServer) -> None:
    served: dict[str, list[str]] = {}
    with httpx.Client(base_url=live_server.base_url, timeout=10.0) as client:
        for path in UI_PAGES:
            reply = client.get(path)
            if reply.status_code == 200:
                assert reply.headers["content-type"].startswith("text/html")
                served[path] = _references(reply.text)
        assert "/schema/swagger" in served, "API_DOCS is on in development"
        swagger = served["/schema/swagger"]
        assert {urljoin(live_server.base_url, url) for url in swagger} >= {
            live_server.base_url + "/schema/assets/swagger-ui-bundle.js",
            live_server.base_url + "/schema/assets/swagger-ui-standalone-preset.js",
            live_server.base_url + "/schema/assets/swagger-ui.css",
        }
        for page, urls in served.items():
            external = [url for url in urls if _is_external(url, live_server.base_url + page)]
            assert not external, f"{page} loads {external}"
            for url in urls:
                asset = client.get(urljoin(live_server.base_url + page, url))
                assert asset.status_code == 200, url
                assert not asset.headers["content-type"].startswith("text/html"), url
        assert (
            client.get("/schema/assets/swagger-ui-bundle.js")
            .headers["content-type"]
            .startswith("text/javascript")
        )
        assert client.get("/schema/assets/swagger-ui.css").headers["content-type"].startswith("text/css")


@pytest.mark.parametrize("path", ["/schema/assets/index.html", "/schema/assets/swagger-initializer.js"])
def test_only_the_pages_files_are_served_from_the_package(live_server: LiveServer, path: str) -> None:
    # The package's demo index.html loads the petstore from the internet.
    reply = httpx.get(live_server.base_url + path, timeout=10.0)
    assert reply.status_code == 404
    assert reply.headers["content-type"] == "application/problem+json"
    assert reply.json()["code"] == "not_found"


@pytest.mark.parametrize("path", [*UI_PAGES, *ASSETS, "/schema/anything"])
def test_production_serves_no_docs_page_and_answers_404_problem(
    production_server: LiveServer, path: str
) -> None:
    reply = httpx.get(production_server.base_url + path, timeout=10.0)
    assert reply.status_code == 404
    assert reply.headers["content-type"] == "application/problem+json"
    problem = reply.json()
    assert (problem["status"], problem["code"]) == (404, "not_found")
    assert problem["request_id"] == reply.headers["x-request-id"]


@pytest.mark.parametrize("server", ["live_server", "production_server"])
def test_the_openapi_document_is_served_at_schema_openapi_json(
    request: pytest.FixtureRequest, server: str
) -> None:
    base = request.getfixturevalue(server).base_url
    document = httpx.get(base + "/schema/openapi.json", timeout=10.0)
    assert document.status_code == 200
    assert document.headers["content-type"].startswith("application/vnd.oai.openapi+json")
    assert "/v1/sync" in document.json()["paths"]
    # /schema is the same document, not a page.
    root = httpx.get(base + "/schema", timeout=10.0)
    assert root.status_code == 200
    assert root.json() == document.json()


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
        if method in {"get", "post", "put", "delete", "patch"}
    ]


def test_the_document_declares_bodies_security_parameters_and_problems(live_server: LiveServer) -> None:
    document = httpx.get(live_server.base_url + "/schema/openapi.json", timeout=10.0).json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["adminBearer"]["scheme"] == schemes["deviceBearer"]["scheme"] == "bearer"
    operations = _operations(document)
    for method, path, op in operations:
        where = f"{method} {path}"
        if method in {"POST", "PUT"} and not path.endswith(
            ("/revoke", "/retry", "/evaluate", "/logout", "/disable", "/erase")
        ):
            assert "requestBody" in op, where
        if path.startswith("/v1/admin/") and path != "/v1/admin/login":
            assert op["security"] == [{"adminBearer": []}], where
        for name in {part[1:-1] for part in path.split("/") if part.startswith("{")}:
            assert any(p["in"] == "path" and p["name"] == name for p in op["parameters"]), where
        for status, response in op["responses"].items():
            if status[0] in "45":
                assert list(response["content"]) == ["application/problem+json"], (where, status)
    assert len(operations) >= 31
    sync = document["paths"]["/v1/sync"]["post"]
    assert sync["security"] == [{"deviceBearer": []}]
    for media in ("application/msgpack", "application/json"):
        assert sync["requestBody"]["content"][media]["schema"] == {"$ref": "#/components/schemas/SyncRequest"}
        assert sync["responses"]["200"]["content"][media]["schema"] == {
            "$ref": "#/components/schemas/SyncReply"
        }
    push = document["components"]["schemas"]["SyncRequest"]["properties"]["push"]["items"]
    assert push["required"] == ["seq"] and push["properties"]["seq"]["type"] == "integer"
    token = document["paths"]["/v1/devices/token"]["post"]["responses"]["200"]["content"]
    assert token["application/json"]["schema"] == {"$ref": "#/components/schemas/TokenPair"}
    dead = document["paths"]["/v1/admin/outbox/dead"]["get"]["parameters"]
    assert {p["name"]: p["schema"].get("maximum") for p in dead} == {"limit": 500, "after_id": 2**53}
    # A body that may be omitted says so; money bodies do not.
    assert document["paths"]["/v1/admin/users"]["post"]["requestBody"]["required"] is False
    assert document["paths"]["/v1/admin/users/{user_id}/offers"]["post"]["requestBody"]["required"] is True
    conflict = document["paths"]["/v1/admin/offers/{offer_id}/withdraw"]["post"]["responses"]["409"]
    codes = conflict["content"]["application/problem+json"]["schema"]["allOf"][1]["properties"]["code"][
        "enum"
    ]
    assert "offer_closed" in codes
