"""The seam between the sync engine and the network.

The engine builds :class:`TransportRequest` values and reads :class:`TransportResponse`
values; it never sees HTTP libraries. :class:`~edge_sdk.sync_client.http.HttpTransport` is
the production adapter; tests and the chaos harness put their own (fault-injecting) adapter
in its place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Protocol

from edge_sdk.errors import TransportError
from sync.codec import PROBLEM_JSON, CodecError, decode_problem
from sync.messages import Problem

SYNC_PATH: Final = "/v1/sync"
ENROLL_PATH: Final = "/v1/devices/enroll"
REFRESH_PATH: Final = "/v1/devices/token"

__all__ = [
    "ENROLL_PATH",
    "REFRESH_PATH",
    "SYNC_PATH",
    "Transport",
    "TransportError",
    "TransportRequest",
    "TransportResponse",
    "read_problem",
]


@dataclass(frozen=True, slots=True)
class TransportRequest:
    """One request to the cloud: a ``POST`` of ``body``, or a ``GET`` (a model release's file)."""

    path: str
    """Path under the base URL, e.g. ``/v1/sync``."""
    body: bytes
    content_type: str
    """Media type of ``body``; the cloud answers success in the same one."""
    bearer: str | None = None
    """Access token for ``Authorization: Bearer``; ``None`` for enrollment and refresh."""
    method: str = "POST"


@dataclass(frozen=True, slots=True)
class TransportResponse:
    """An HTTP answer: status, headers (keys lower-cased) and body."""

    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "headers", {k.lower(): v for k, v in self.headers.items()})

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class Transport(Protocol):
    """Sends one request and returns the cloud's answer, whatever its status.

    Raises :class:`TransportError` when no answer arrived (no network, timeout, reset).
    """

    def send(self, request: TransportRequest) -> TransportResponse: ...

    def close(self) -> None: ...


def read_problem(response: TransportResponse) -> Problem | None:
    """The problem+json body of an error answer; ``None`` if it has none or it is malformed."""
    content_type = (response.header("content-type") or "").split(";", 1)[0].strip().lower()
    if content_type != PROBLEM_JSON or not response.body:
        return None
    try:
        return decode_problem(response.body)
    except CodecError:
        return None
