"""FCM through firebase-admin's ``messaging.send_each_async``.

Each sender owns one firebase ``App`` (its async HTTP client belongs to the event loop that first
uses it, so build one sender per loop). firebase-admin has no emulator and formats its endpoint
from a class attribute once per app: with an endpoint override (``FCM_ENDPOINT``, tests only) the
attribute is swapped while this app's messaging service is built, then restored, so no other app
in the process is affected.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from typing import Final

import firebase_admin
from firebase_admin import credentials, exceptions, messaging

from cloud.push.messages import PushMessage, PushOutcome, PushResult

MAX_BATCH: Final = 500
"""``send_each_async`` takes at most this many messages per call."""

_FCM_PATH: Final = "/v1/projects/{0}/messages:send"

_DEAD_TOKEN: Final = (
    messaging.UnregisteredError,
    messaging.SenderIdMismatchError,
    exceptions.InvalidArgumentError,
)
_TRY_LATER: Final = (messaging.QuotaExceededError, exceptions.UnavailableError, exceptions.InternalError)


def _error_code(exc: Exception) -> str:
    if isinstance(exc, messaging.UnregisteredError):
        return "UNREGISTERED"
    if isinstance(exc, messaging.SenderIdMismatchError):
        return "SENDER_ID_MISMATCH"
    if isinstance(exc, messaging.QuotaExceededError):
        return "QUOTA_EXCEEDED"
    if isinstance(exc, exceptions.FirebaseError):
        return str(exc.code).upper()
    return type(exc).__name__


def classify(token: str, response: messaging.SendResponse) -> PushResult:
    """One FCM answer as a :class:`PushResult`."""
    if response.success:
        return PushResult(token=token, outcome=PushOutcome.SENT, message_id=response.message_id)
    exc = response.exception
    if isinstance(exc, _DEAD_TOKEN):
        outcome = PushOutcome.DEACTIVATE
    elif isinstance(exc, _TRY_LATER):
        outcome = PushOutcome.RETRY
    else:
        outcome = PushOutcome.FAILED
    return PushResult(token=token, outcome=outcome, error_code=_error_code(exc))


def to_fcm(message: PushMessage, now_s: float) -> messaging.Message:
    """A notice: notification + data. A ping: data-only, collapsible, low priority on APNs."""
    ttl = dt.timedelta(seconds=message.ttl_s)
    apns_headers = {"apns-expiration": str(int(now_s) + message.ttl_s)}
    if message.title is None:
        apns_headers["apns-priority"] = "5"  # data-only: Apple requires 5 for background pushes
        apns_headers["apns-push-type"] = "background"
        aps = messaging.Aps(content_available=True)
        notification = None
    else:
        apns_headers["apns-priority"] = "10"
        aps = messaging.Aps()
        notification = messaging.Notification(title=message.title, body=message.body)
    if message.collapse_key is not None:
        apns_headers["apns-collapse-id"] = message.collapse_key
    return messaging.Message(
        # ``token`` is the FCM registration token our devices send; the library's suggested
        # replacement ``fid`` is a Firebase installation id, a different thing.
        token=message.token,
        data=message.data,
        notification=notification,
        android=messaging.AndroidConfig(ttl=ttl, priority="normal", collapse_key=message.collapse_key),
        apns=messaging.APNSConfig(headers=apns_headers, payload=messaging.APNSPayload(aps=aps)),
    )


class FcmPushSender:
    """A :class:`~cloud.push.messages.PushSender` over FCM HTTP v1."""

    name = "fcm"

    def __init__(self, credential: credentials.Base, project_id: str, endpoint: str | None = None) -> None:
        self._app = firebase_admin.initialize_app(
            credential, {"projectId": project_id}, name=f"ec-push-{uuid.uuid4().hex}"
        )
        original = messaging._MessagingService.FCM_URL
        if endpoint is not None:
            messaging._MessagingService.FCM_URL = endpoint.rstrip("/") + _FCM_PATH
        try:
            self._service = messaging._get_messaging_service(self._app)
        finally:
            messaging._MessagingService.FCM_URL = original

    async def send(self, messages: list[PushMessage]) -> list[PushResult]:
        results: list[PushResult] = []
        for start in range(0, len(messages), MAX_BATCH):
            chunk = messages[start : start + MAX_BATCH]
            now_s = time.time()
            batch = await messaging.send_each_async([to_fcm(m, now_s) for m in chunk], app=self._app)
            results.extend(classify(m.token, r) for m, r in zip(chunk, batch.responses, strict=True))
        return results

    async def close(self) -> None:
        """Close the HTTP client in this loop, then drop the app.

        firebase-admin's own clean-up closes the async client with ``asyncio.run``, which cannot
        run inside a loop: it runs in a thread, on a client already closed here.
        """
        await self._service._async_client.aclose()
        await asyncio.to_thread(firebase_admin.delete_app, self._app)
