"""The push messages docs/mobile-integration.md and docs/operations.md describe are the ones sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloud.push.messages import NOTICE_TTL_S, SYNC_COLLAPSE_KEY, SYNC_PING_TTL_S, PushPayload, message_for

DOCS = Path(__file__).resolve().parents[4] / "docs"


@pytest.mark.parametrize("page", ["mobile-integration.md", "operations.md"])
def test_the_sync_ping_is_described_as_sent(page: str) -> None:
    text = " ".join((DOCS / page).read_text(encoding="utf-8").split())
    ping = message_for(PushPayload(user_id="u"), "token")
    assert (ping.title, ping.body) == (None, None)  # data-only
    assert ping.collapse_key == SYNC_COLLAPSE_KEY
    assert f"collapse key `{SYNC_COLLAPSE_KEY}`, TTL 1 hour" in text
    assert ping.ttl_s == SYNC_PING_TTL_S == 3600
    if page == "mobile-integration.md":
        assert ping.data == {"type": "sync"}
        assert 'data-only `{"type": "sync"}`' in text


def test_the_notice_push_is_described_as_sent() -> None:
    text = " ".join((DOCS / "mobile-integration.md").read_text(encoding="utf-8").split())
    payload = PushPayload(user_id="u", notice_id="n1", notice_kind="limit_applied", title="t", body="b")
    notice = message_for(payload, "token")
    assert notice.data == {"type": "notice", "notice_id": "n1", "kind": "limit_applied"}
    assert 'data `{"type": "notice", "notice_id", "kind"}`, TTL 7 days' in text
    assert notice.ttl_s == NOTICE_TTL_S == 7 * 24 * 3600
