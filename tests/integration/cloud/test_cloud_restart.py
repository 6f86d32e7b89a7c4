"""A server killed with ``kill -9`` and started again on the same data keeps every commit."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from sync.codec import MediaType, encode
from sync.messages import ConsentScope, RefreshRequest, SetConsent
from tests.support.databases import Databases
from tests.support.live_server import LiveServer, day_of, sample_aggregate, sync_ok

pytestmark = pytest.mark.engines("sqlite", "postgres")


def test_kill_9_between_syncs_loses_nothing(
    redis_url: str, tmp_path: Path, databases: Databases, engine: str
) -> None:
    url = databases.url(engine)
    with LiveServer(tmp_path, redis_url, env={} if url is None else {"DATABASE_URL": url}) as server:
        tokens = server.new_device()
        first = sync_ok(
            server,
            tokens,
            [
                SetConsent(seq=1, created_at=1, scope=ConsentScope.SHARE_AGGREGATES, granted=True),
                sample_aggregate(2, day_of(0)),
            ],
        )
        assert first.last_seq == 2
        assert [r.status for r in first.results] == ["applied", "applied"]
        port = server.port

        server.restart(hard=True)

        assert server.port == port
        # The same tokens still work: the signing key comes from settings, not process memory.
        again = sync_ok(server, tokens, [sample_aggregate(2, day_of(0)), sample_aggregate(3, day_of(1))])
        assert [(r.seq, r.status, r.replay) for r in again.results] == [
            (2, "applied", True),
            (3, "applied", False),
        ]
        assert again.last_seq == 3
        view = server.user_view(tokens.user_id)
        assert [a["seq"] for a in view["aggregates"]] == [2, 3]
        assert view["consent"] == {"inference": False, "share_aggregates": True, "push": False}
        assert view["version"] == 1
        # A refresh token issued before the crash rotates after a (graceful) restart too.
        server.restart(hard=False)
        body = encode(
            RefreshRequest(device_id=tokens.device_id, refresh_token=tokens.refresh_token), MediaType.JSON
        )
        response = httpx.post(
            f"{server.base_url}/v1/devices/token", content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 200, response.text
