"""The one uvicorn command line every API process is started with: the runner's, the tests' live
servers and the benchmarks'.

``--no-server-header``: uvicorn would otherwise send ``server: uvicorn`` on every reply, which tells
a scanner what to try and tells a client nothing it needs. uvicorn writes that header itself, after
the app, so only its own option removes it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Final

API_FACTORY: Final = "cloud.app:create_app"


def uvicorn_command(
    host: str, port: int, *, factory: str = API_FACTORY, extra: Sequence[str] = (), access_log: bool = False
) -> list[str]:
    """``python -m uvicorn --factory <factory> --host <host> --port <port> --no-server-header
    [--no-access-log] [extra]``.

    The access log is off unless asked for (``ACCESS_LOG``): uvicorn formats and writes a line per
    request on the event loop, which measured about an eighth of a sync's time there.
    """
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        factory,
        "--host",
        host,
        "--port",
        str(port),
        "--no-server-header",
        # The app reads X-Forwarded-For itself, from TRUSTED_PROXIES only (cloud.ratelimit); uvicorn
        # would otherwise trust any peer on 127.0.0.1 (or FORWARDED_ALLOW_IPS) to name the client.
        "--no-proxy-headers",
        *(() if access_log else ("--no-access-log",)),
        *extra,
    ]
