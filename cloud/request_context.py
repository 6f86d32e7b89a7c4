"""Request ids: one per request, echoed in ``X-Request-ID``, in every log line and every problem.

A plain ASGI middleware (not a Litestar ``AbstractMiddleware``) keeps the per-request cost to a
header scan and a context-variable set; the context variable is what log records and problem
answers read, so nothing has to pass the id around.
"""

from __future__ import annotations

import datetime
import itertools
import json
import logging
import re
import secrets
import time
from contextvars import ContextVar
from typing import Final

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from cloud.constants import REQUEST_ID_HEADER

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
_requests_log: Final = logging.getLogger("cloud.requests")

_HEADER_BYTES: Final = REQUEST_ID_HEADER.lower().encode("latin-1")
# An incoming id is echoed only if it is short and plain, so it cannot forge log lines or headers.
_VALID_ID: Final = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def current_request_id() -> str | None:
    """The id of the request being served, or ``None`` outside a request."""
    return _request_id.get()


ADMIN_ACTOR: Final = "admin"
"""The actor of an admin change made where no operator signed in (before accounts, or a script)."""
_actor: ContextVar[str] = ContextVar("actor", default=ADMIN_ACTOR)


def current_actor() -> str:
    """Who makes the admin request being served (``operator:<username>``, or ``admin`` for the
    development token), set by the admin guard; every admin write records it."""
    return _actor.get()


def set_actor(actor: str) -> None:
    """Set by the admin guard for the rest of the request (the handler runs in the guard's context)."""
    _actor.set(actor)


_ID_PREFIX: Final = secrets.token_hex(8)
_ID_COUNTER: Final = itertools.count()


def new_request_id() -> str:
    """32 hex digits: this process's random prefix and its request counter. Unique across
    processes like a ``uuid4`` (the prefix is 64 random bits), without reading the OS's random
    source per request (``uuid4`` was ~4 % of a sync request's CPU)."""
    return f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == _HEADER_BYTES:
            text = value.decode("latin-1")
            return text if _VALID_ID.match(text) else None
    return None


def request_id_middleware(app: ASGIApp) -> ASGIApp:
    """Wrap ``app`` so every HTTP response carries ``X-Request-ID``."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        request_id = _incoming_id(scope) or new_request_id()
        token = _request_id.set(request_id)
        header = (_HEADER_BYTES, request_id.encode("latin-1"))
        # The per-request line is written only at DEBUG (checked once per request, cheap): the
        # access log it replaces cost event-loop time on every sync (ACCESS_LOG turns that back on).
        debug = _requests_log.isEnabledFor(logging.DEBUG)
        started = time.perf_counter() if debug else 0.0
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", ()) if h[0].lower() != _HEADER_BYTES]
                headers.append(header)
                message["headers"] = headers
                status = message["status"]
            elif debug and message["type"] == "http.response.body" and not message.get("more_body"):
                # Before the last byte leaves: the line is there once the client has its answer.
                elapsed_ms = (time.perf_counter() - started) * 1000
                _requests_log.debug(
                    "%s %s -> %d (%.1f ms)", scope["method"], scope["path"], status, elapsed_ms
                )
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        finally:
            _request_id.reset(token)

    return middleware


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` (``-`` outside a request) so formats can print it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get() or "-"
        return True


LOG_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


class JsonLines(logging.Formatter):
    """One JSON object per record (``LOG_FORMAT=json``), for a log shipper to parse: ``time`` (UTC,
    ISO 8601, milliseconds), ``level``, ``logger``, ``request_id`` (``null`` outside a request),
    ``message``, and ``exception`` when the record carries one."""

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None)
        line: dict[str, str | None] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "request_id": None if request_id in (None, "-") else request_id,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure_logging(level: int = logging.INFO, *, json_lines: bool = False) -> None:
    """Give the root logger a handler whose lines carry the request id (as JSON objects with
    ``json_lines``); idempotent."""
    root = logging.getLogger()
    for handler in root.handlers:
        if getattr(handler, "_ec_request_id", False):
            return
    formatter = JsonLines() if json_lines else logging.Formatter(LOG_FORMAT)
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(formatter)
    handler._ec_request_id = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > level:
        root.setLevel(level)
    # uvicorn's own loggers keep their handlers; the filter gives their records the id too.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        for existing in logging.getLogger(name).handlers:
            existing.addFilter(RequestIdFilter())
            if json_lines:
                existing.setFormatter(formatter)


def use_json_lines() -> None:
    """Make every handler of the root logger write :class:`JsonLines` (the workers, whose logging
    is set up before their settings are read)."""
    for handler in logging.getLogger().handlers:
        handler.addFilter(RequestIdFilter())
        handler.setFormatter(JsonLines())
