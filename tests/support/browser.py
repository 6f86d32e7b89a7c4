"""A real browser for page tests: Debian's ``chromium`` (``make test`` installs it), driven by
Playwright through ``executable_path``. Playwright's own browser download is never used.

:func:`browser_page` yields a page whose every request outside loopback is refused and recorded,
and whose console errors and uncaught page errors are collected: a page test asserts all three lists
are empty. Screenshots go to :data:`ARTIFACTS` (``TEST_ARTIFACTS_DIR``, else ``.cache/test-artifacts``
in the checkout), kept after the run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Route, sync_playwright

ARTIFACTS = Path(
    os.environ.get("TEST_ARTIFACTS_DIR") or Path(__file__).resolve().parents[2] / ".cache" / "test-artifacts"
)
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def chromium_path() -> str:
    """Debian's chromium; a clear failure (never a skip) when it is missing."""
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("chromium is not installed: `make system-packages` installs it (make test does)")
    return path


@dataclass
class Watched:
    page: Page
    outside_loopback: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / name
        self.page.screenshot(path=str(path), full_page=True)
        return path


@contextmanager
def browser_page() -> Iterator[Watched]:
    with sync_playwright() as playwright:
        # --no-sandbox: the suite may run as root, where chromium refuses its sandbox.
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            watched = Watched(page)

            def only_loopback(route: Route) -> None:
                host = urlsplit(route.request.url).hostname or ""
                if route.request.url.startswith(("data:", "blob:")) or host in LOOPBACK:
                    route.continue_()
                else:
                    watched.outside_loopback.append(route.request.url)
                    route.abort()

            page.route("**/*", only_loopback)
            page.on("console", lambda m: watched.console_errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: watched.page_errors.append(str(e)))
            yield watched
        finally:
            browser.close()
