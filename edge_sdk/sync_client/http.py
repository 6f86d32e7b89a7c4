"""The production :class:`~edge_sdk.sync_client.transport.Transport`: a synchronous httpx client."""

from __future__ import annotations

import uuid

import httpx

from edge_sdk.errors import TransportError
from edge_sdk.sync_client.transport import TransportRequest, TransportResponse


class HttpTransport:
    """POSTs requests to ``base_url`` over one pooled :class:`httpx.Client`."""

    def __init__(self, base_url: str, timeout_s: float = 15.0, client: httpx.Client | None = None) -> None:
        self._client = client or httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
            follow_redirects=False,
        )

    def send(self, request: TransportRequest) -> TransportResponse:
        headers = {
            "Content-Type": request.content_type,
            "Accept": f"{request.content_type}, application/problem+json",
            # Our own id makes a request traceable in the cloud's logs even when its reply is lost.
            "X-Request-ID": uuid.uuid4().hex,
        }
        if request.bearer is not None:
            headers["Authorization"] = f"Bearer {request.bearer}"
        try:
            if request.method == "GET":
                del headers["Content-Type"]
                headers["Accept"] = "*/*"
                response = self._client.get(request.path, headers=headers)
            else:
                response = self._client.post(request.path, content=request.body, headers=headers)
        except httpx.TransportError as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        return TransportResponse(
            status=response.status_code, body=response.content, headers=dict(response.headers)
        )

    def close(self) -> None:
        self._client.close()
