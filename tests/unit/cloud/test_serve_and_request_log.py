"""The API's command line and its per-request log line."""

from __future__ import annotations

import logging
import re

import pytest
from litestar import Litestar, get
from litestar.testing import TestClient

from cloud.request_context import configure_logging, new_request_id, request_id_middleware
from cloud.serve import uvicorn_command
from cloud.settings import load_settings


def test_the_access_log_is_off_unless_asked_for() -> None:
    assert "--no-access-log" in uvicorn_command("127.0.0.1", 8000)
    assert "--no-access-log" not in uvicorn_command("127.0.0.1", 8000, access_log=True)
    assert "--no-server-header" in uvicorn_command("127.0.0.1", 8000, access_log=True)


@pytest.mark.parametrize(("raw", "on"), [(None, False), ("", False), ("0", False), ("1", True), ("on", True)])
def test_access_log_setting(raw: str | None, on: bool) -> None:
    env = {} if raw is None else {"ACCESS_LOG": raw}
    assert load_settings(env).api.access_log is on


def test_access_log_setting_refuses_other_values() -> None:
    with pytest.raises(ValueError, match="ACCESS_LOG"):
        load_settings({"ACCESS_LOG": "maybe"})


@get("/ping")
async def ping() -> str:
    return "pong"


def _app() -> Litestar:
    app = Litestar(route_handlers=[ping], logging_config=None)
    app.asgi_handler = request_id_middleware(app.asgi_handler)
    return app


def test_each_request_is_logged_only_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    configure_logging()
    with TestClient(_app()) as client:
        with caplog.at_level(logging.INFO, logger="cloud.requests"):
            client.get("/ping")
        assert [r for r in caplog.records if r.name == "cloud.requests"] == []
        with caplog.at_level(logging.DEBUG, logger="cloud.requests"):
            reply = client.get("/ping", headers={"X-Request-ID": "req-42"})
    lines = [r for r in caplog.records if r.name == "cloud.requests"]
    assert len(lines) == 1 and lines[0].getMessage().startswith("GET /ping -> 200 (")
    assert reply.headers["x-request-id"] == "req-42"


def test_request_ids_are_32_hex_digits_and_never_repeat() -> None:
    ids = [new_request_id() for _ in range(10_000)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == len(ids)
    # The process's random prefix keeps two processes' ids apart.
    assert len({i[:16] for i in ids}) == 1
