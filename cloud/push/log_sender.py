"""The embedded default sender: no Firebase credentials, so pushes only go to the database.

Every attempt, this sender's included, is recorded in ``push_attempts`` by the ``send_push`` job
with the message as sent; this sender answers ``sent`` for each message and logs it, so the demo
shows what a device would have received.
"""

from __future__ import annotations

import logging

from cloud.push.messages import PushMessage, PushOutcome, PushResult

log = logging.getLogger(__name__)


class LogPushSender:
    """A :class:`~cloud.push.messages.PushSender` that delivers nothing and reports success."""

    name = "log"

    async def send(self, messages: list[PushMessage]) -> list[PushResult]:
        for message in messages:
            log.info("push (log only) to %s…: %s %s", message.token[:8], message.title or "", message.data)
        return [
            PushResult(token=m.token, outcome=PushOutcome.SENT, message_id=f"log:{i}")
            for i, m in enumerate(messages)
        ]

    async def close(self) -> None:
        return None
