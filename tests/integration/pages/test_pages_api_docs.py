"""The API documentation page in a real browser: Swagger UI, served whole by the app from the
pinned package, renders the document's operations without a console error and without a single
request beyond loopback (nothing from a CDN)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud.api_docs import TITLE
from cloud.constants import API_DOCS_UI_PATH
from tests.support.browser import browser_page
from tests.support.live_server import LiveServer


@pytest.fixture(scope="module")
def server(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with LiveServer(tmp_path_factory.mktemp("pages-cloud"), redis_url, env={"API_DOCS": "1"}) as live:
        yield live


def test_the_swagger_page_renders_from_loopback_only(server: LiveServer) -> None:
    with browser_page() as watched:
        page = watched.page
        page.goto(server.base_url + API_DOCS_UI_PATH)
        page.wait_for_selector(".swagger-ui .info .title", timeout=15_000)
        assert TITLE in page.inner_text(".swagger-ui .info .title")
        page.wait_for_selector(".opblock", timeout=15_000)
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        assert any("/v1/sync" in p for p in paths) and len(paths) >= 10
        shot = watched.screenshot("api-docs.png")
        assert shot.stat().st_size > 10_000
        assert watched.outside_loopback == []
        assert watched.console_errors == [] and watched.page_errors == []


def test_the_page_watch_sees_what_it_must_refuse(server: LiveServer, tmp_path: Path) -> None:
    """The guard is worth something: a page that asks a CDN and throws is caught on both counts."""
    page_file = tmp_path / "bad.html"
    page_file.write_text(
        '<script src="https://cdn.example.com/x.js"></script><script>console.error("boom"); nope()</script>'
    )
    with browser_page() as watched:
        watched.page.goto(server.base_url + "/health/live")
        watched.page.set_content(page_file.read_text())
        watched.page.wait_for_timeout(300)
        assert watched.outside_loopback == ["https://cdn.example.com/x.js"]
        assert watched.console_errors and watched.page_errors
