"""A request whose body stops arriving is answered instead of being held open.

uvicorn bounds the wait for a new request on a kept-alive connection (``timeout_keep_alive``) but
not the wait for the rest of a body: a client that announces ``Content-Length: 1000`` and sends 10
bytes would keep a connection and a request task for as long as it stays connected. This plain ASGI
middleware bounds each wait for the next piece of a body by ``BODY_READ_TIMEOUT_S``. On expiry the
read raises :class:`cloud.errors.BodyReadTimeout` inside the app, so the client gets a ``400``
problem+json (``invalid_body``) before any handler ran (nothing changed), and ``Connection: close``
makes uvicorn drop the connection, whose unread rest could not start a next request anyway.

The bound is per wait, not for the whole body (as nginx's ``client_body_timeout``): a slow but
steady upload over a poor mobile link still gets through.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send

from cloud.errors import BodyReadTimeout

logger = logging.getLogger(__name__)

_CONNECTION_CLOSE: Final = (b"connection", b"close")


def body_timeout_middleware(app: ASGIApp, timeout_s: float) -> ASGIApp:
    """Wrap ``app`` so no wait for the next piece of a request body lasts longer than ``timeout_s``."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        body_done = False
        timed_out = False

        async def receive_with_timeout() -> ReceiveMessage:
            nonlocal body_done, timed_out
            if body_done:
                # After the body the app only listens for a disconnect, which may rightly take long.
                return await receive()
            try:
                async with asyncio.timeout(timeout_s):
                    message = await receive()
            except TimeoutError:
                timed_out = True
                logger.info("request body stalled for %g s: answering 400 and closing", timeout_s)
                raise BodyReadTimeout(
                    f"no body data for {timeout_s:g} s before Content-Length was reached"
                ) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def send_closing(message: Message) -> None:
            if timed_out and message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), _CONNECTION_CLOSE]
            await send(message)

        await app(scope, receive_with_timeout, send_closing)

    return middleware
