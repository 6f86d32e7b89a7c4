"""The response headers every reply carries for safety, set in this one place.

- ``X-Content-Type-Options: nosniff`` on every reply: a browser must take ``Content-Type`` as sent
  and never guess a script or a page out of a JSON or msgpack body.
- ``Cache-Control: no-store`` and ``Pragma: no-cache`` (for HTTP/1.0 caches) on every reply under
  ``/v1/``: token replies must not be stored (RFC 6749 §5.1), and every other ``/v1`` answer carries
  an enrollment code or a user's own data, which no cache may keep either.

A plain ASGI middleware around the whole app, like :mod:`cloud.request_context`, so the headers are
on answers Litestar builds before any handler runs (unknown route, wrong method) and on every
problem+json as well. The ``server`` header is not the app's to remove: uvicorn writes it, and
:func:`cloud.serve.uvicorn_command` turns it off.
"""

from __future__ import annotations

from typing import Final

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from cloud.constants import API_PREFIX

NOSNIFF: Final = (b"x-content-type-options", b"nosniff")
NO_STORE: Final = ((b"cache-control", b"no-store"), (b"pragma", b"no-cache"))
_NO_STORE_PREFIX: Final = API_PREFIX + "/"
# Set here only: a value a handler set for one of these is replaced, never sent twice.
_OWNED: Final = frozenset({NOSNIFF[0], *(name for name, _ in NO_STORE)})


def security_headers_middleware(app: ASGIApp) -> ASGIApp:
    """Wrap ``app`` so every HTTP reply carries the headers above."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        added = [NOSNIFF]
        if scope["path"].startswith(_NO_STORE_PREFIX):
            added.extend(NO_STORE)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", ()) if h[0].lower() not in _OWNED]
                headers.extend(added)
                message["headers"] = headers
            await send(message)

        await app(scope, receive, send_with_headers)

    return middleware
