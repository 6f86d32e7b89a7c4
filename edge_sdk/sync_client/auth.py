"""Device identity on the wire: enrollment, access tokens and refresh-token rotation.

Refreshes are serialised by a lock: two callers that both saw the same access token refused
make one refresh between them (the second finds a new token stored and uses it), because
presenting an already rotated refresh token again outside the cloud's grace window revokes
the device.

A refused refresh (``refresh_reused``, ``refresh_invalid``, ``device_revoked``) loses the
identity for good: the store discards the tokens and records the loss before
:class:`DeviceRevoked` is raised, so nothing ever presents them again, and the next enrollment
replaces the lost identity (:meth:`DeviceAuth.replace_identity`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from edge_sdk.crashpoints import crashpoint
from edge_sdk.errors import (
    AlreadyEnrolled,
    DeviceRevoked,
    EnrollmentFailed,
    NotEnrolled,
    ProtocolError,
    ServerUnavailable,
)
from edge_sdk.settings import EdgeSettings
from edge_sdk.store.local import LocalStore
from edge_sdk.sync_client.transport import (
    ENROLL_PATH,
    REFRESH_PATH,
    Transport,
    TransportRequest,
    TransportResponse,
    read_problem,
)
from sync.codec import CodecError, decode_tokens, encode, media_type_of
from sync.codes import ErrorCode
from sync.messages import EnrollRequest, RefreshRequest, TokenPair
from sync.timing import parse_retry_after, to_server_time

_REVOKED_CODES = frozenset({ErrorCode.REFRESH_REUSED, ErrorCode.REFRESH_INVALID, ErrorCode.DEVICE_REVOKED})


def error_code(response: TransportResponse) -> tuple[str, str | None]:
    """The problem ``code`` (or ``http_<status>`` without one) and detail of an error answer."""
    problem = read_problem(response)
    if problem is None:
        return f"http_{response.status}", None
    return problem.code, problem.detail


def raise_if_unavailable(response: TransportResponse, now_ms: int) -> None:
    """Raise :class:`ServerUnavailable` for 429 and 5xx answers, with the cloud's retry hint."""
    if response.status != 429 and response.status < 500:
        return
    retry_after: float | None = None
    if response.status in (429, 503):
        retry_after = parse_retry_after(response.header("retry-after"), now_ms / 1000.0)
        if retry_after is None:
            problem = read_problem(response)
            if problem is not None and problem.retry_after_s is not None:
                retry_after = float(max(problem.retry_after_s, 0))
    raise ServerUnavailable(response.status, retry_after)


class DeviceAuth:
    """Enrolls the device and keeps a valid access token for the sync engine."""

    def __init__(self, store: LocalStore, transport: Transport, settings: EdgeSettings) -> None:
        self._store = store
        self._transport = transport
        self._settings = settings
        self._refresh_lock = threading.Lock()

    def _post(self, path: str, body: bytes) -> TransportResponse:
        return self._transport.send(TransportRequest(path, body, str(self._settings.media_type)))

    def _decode_tokens(self, response: TransportResponse) -> TokenPair:
        media = media_type_of(response.header("content-type")) or self._settings.media_type
        try:
            return decode_tokens(response.body, media)
        except CodecError as exc:
            raise ProtocolError(f"undecodable token pair: {exc}", status=response.status) from exc

    def request_enrollment(self, code: str, replaces_device_id: str | None = None) -> TokenPair:
        """Trade an enrollment code for a new device identity (stores nothing).

        ``replaces_device_id`` is the identity a restored store held: the cloud continues its
        lineage (so nothing it already delivered is stored twice) and revokes it.
        """
        request = EnrollRequest(
            code=code,
            platform=self._settings.platform,
            app_version=self._settings.app_version,
            replaces_device_id=replaces_device_id,
        )
        response = self._post(ENROLL_PATH, encode(request, self._settings.media_type))
        if response.status in (200, 201):
            return self._decode_tokens(response)
        raise_if_unavailable(response, self._settings.clock_ms())
        reason, detail = error_code(response)
        if response.status in (400, 401, 403, 404, 409, 410):
            raise EnrollmentFailed(reason, response.status, detail)
        raise ProtocolError(
            f"unexpected enrollment answer HTTP {response.status}", status=response.status, code=reason
        )

    def enroll(self, code: str) -> TokenPair:
        """Enroll this store's device; raises :class:`AlreadyEnrolled` if it has a usable identity.

        A store whose identity was lost (:class:`DeviceRevoked`) or is being replaced enrolls a
        new identity that replaces it (:meth:`replace_identity`).
        """
        state = self._store.state()
        if state.device_id is not None:
            if state.identity_lost is None and state.replacing_device_id is None:
                raise AlreadyEnrolled("this store already holds a device identity")
            return self.replace_identity(lambda: code)[0]
        tokens = self.request_enrollment(code)
        crashpoint("after-enroll-before-store")
        self._store.set_enrollment(tokens, self._settings.base_url)
        return tokens

    def replace_identity(self, code: Callable[[], str]) -> tuple[TokenPair, int]:
        """Enroll a new identity replacing the store's current (rolled-back or lost) one.

        Returns the new pair and how many pending mutations were re-queued under it.
        """
        # Recorded before asking: the cloud revokes the old identity as it enrolls the new one.
        old_device_id = self._store.begin_replacement()
        # Naming the old identity puts the new one in its lineage, so an aggregate the old
        # identity already delivered is refused as duplicate_day rather than stored twice.
        tokens = self.request_enrollment(code(), replaces_device_id=old_device_id)
        crashpoint("after-reenroll-before-store")
        requeued = self._store.reenroll(tokens, self._settings.base_url)
        return tokens, requeued

    def access_token(self) -> str:
        """A usable access token, refreshed first if it expires within the margin (cloud clock)."""
        creds = self._store.credentials()
        if creds is None:
            raise NotEnrolled("no device credentials; call enroll() first")
        now_on_cloud = to_server_time(self._settings.clock_ms(), self._store.state().skew_ms)
        if creds.access_expires_at - self._settings.refresh_margin_ms <= now_on_cloud:
            return self.refresh(creds.access_token)
        return creds.access_token

    def refresh(self, stale_access_token: str) -> str:
        """Rotate the refresh token once and return the new access token.

        ``stale_access_token`` is the token the caller saw refused (or expiring); if another
        caller already replaced it, the stored one is returned without a second refresh.
        """
        with self._refresh_lock:
            creds = self._store.credentials()
            device_id = self._store.state().device_id
            if creds is None or device_id is None:
                raise NotEnrolled("no device credentials; call enroll() first")
            if creds.access_token != stale_access_token:
                return creds.access_token
            request = RefreshRequest(device_id=device_id, refresh_token=creds.refresh_token)
            response = self._post(REFRESH_PATH, encode(request, self._settings.media_type))
            if response.status == 200:
                tokens = self._decode_tokens(response)
                crashpoint("after-refresh-before-store")
                if not self._store.store_tokens(tokens, self._settings.base_url):
                    raise ProtocolError("refresh answered with another device's tokens", status=200)
                crashpoint("after-refresh-store")
                return tokens.access_token
            raise_if_unavailable(response, self._settings.clock_ms())
            reason, detail = error_code(response)
            if reason in _REVOKED_CODES:
                # The identity is gone for good (protocol §4.3): never present these tokens again.
                self._store.lose_identity(reason)
                raise DeviceRevoked(reason, detail)
            raise ProtocolError(
                f"unexpected refresh answer HTTP {response.status}", status=response.status, code=reason
            )
