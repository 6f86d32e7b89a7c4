"""Pure parts of push: back-off, message shapes, and the FCM answer classification."""

from __future__ import annotations

import pytest
from firebase_admin import exceptions, messaging

from cloud.push.fcm import classify
from cloud.push.messages import (
    RETRY_BASE_MS,
    RETRY_CAP_MS,
    SYNC_COLLAPSE_KEY,
    PushOutcome,
    PushPayload,
    message_for,
    retry_delay_ms,
)


def test_retry_delay_doubles_and_is_capped() -> None:
    assert [retry_delay_ms(a) for a in range(3)] == [RETRY_BASE_MS, 2 * RETRY_BASE_MS, 4 * RETRY_BASE_MS]
    assert retry_delay_ms(50) == RETRY_CAP_MS


def test_payload_without_notice_is_a_sync_ping() -> None:
    ping = message_for(PushPayload(user_id="u"), "tok")
    assert (ping.title, ping.collapse_key, ping.data) == (None, SYNC_COLLAPSE_KEY, {"type": "sync"})


@pytest.mark.parametrize(
    ("exc", "outcome", "code"),
    [
        (messaging.UnregisteredError("gone"), PushOutcome.DEACTIVATE, "UNREGISTERED"),
        (messaging.SenderIdMismatchError("other"), PushOutcome.DEACTIVATE, "SENDER_ID_MISMATCH"),
        (exceptions.InvalidArgumentError("bad token"), PushOutcome.DEACTIVATE, "INVALID_ARGUMENT"),
        (messaging.QuotaExceededError("slow down"), PushOutcome.RETRY, "QUOTA_EXCEEDED"),
        (exceptions.UnavailableError("later"), PushOutcome.RETRY, "UNAVAILABLE"),
        (messaging.ThirdPartyAuthError("apns key"), PushOutcome.FAILED, "UNAUTHENTICATED"),
    ],
)
def test_fcm_errors_are_classified(exc: Exception, outcome: PushOutcome, code: str) -> None:
    result = classify("tok", messaging.SendResponse(None, exc))
    assert (result.outcome, result.error_code, result.message_id) == (outcome, code, None)
