"""``/schema``: the OpenAPI document always; the docs page only with ``API_DOCS`` on, and then loading
nothing from outside the app."""

from __future__ import annotations

from html.parser import HTMLParser
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
