"""Pure parts of push: back-off, message shapes, and the FCM answer classification."""

from __future__ import annotations

import pytest
from firebase_admin import exceptions, messaging

from cloud.push.fcm import classify
from cloud.push.messages import (
    LOCK_SCREEN_BODY,
    LOCK_SCREEN_TITLE,
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


@pytest.mark.parametrize(
    "payload",
    [
        PushPayload(user_id="u", notice_id="limit_applied:off_1", notice_kind="limit_applied"),
        PushPayload(
            user_id="u", notice_id="offer_available:off_2", notice_kind="offer_available", offer_id="off_2"
        ),
        # A row an earlier release queued with the notice's own text: the text is not sent.
        PushPayload(
            user_id="u",
            notice_id="n1",
            notice_kind="info",
            title="Your new credit limit is active",
            body="Your credit limit is now 1,500.00 EUR.",
        ),
    ],
)
def test_a_shown_push_says_nothing_but_that_there_is_an_update(payload: PushPayload) -> None:
    message = message_for(payload, "tok")
    assert (message.title, message.body) == (LOCK_SCREEN_TITLE, LOCK_SCREEN_BODY)
    assert not any(ch.isdigit() for ch in f"{message.title}{message.body}")
    assert message.data == {"type": "notice", "notice_id": payload.notice_id, "kind": payload.notice_kind}


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
