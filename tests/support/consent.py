"""Test helpers: grant ``share_aggregates`` through the protocol, as an app does first.

The cloud stores aggregates only under a recorded grant, so tests that send aggregates grant it
the way an app would; nothing is granted behind the tests' back, and the device's gate and the
cloud both see the grant as it travelled.

- :func:`grant_share_aggregates` queues the grant on an ``EdgeClient`` with ``set_consent``: a
  ``SetConsent`` in the outbox, ahead of the aggregates, that the next sync delivers. On a fresh
  device store it takes seq 1, so that device's aggregates start at seq 2.
- :func:`grant_share_aggregates_over_http` is for tests that speak raw HTTP to a live server: a
  device of the user's own, enrolled for it, syncs the grant, so the seqs of the devices a test
  watches stay their own. The grant appends a ``ConsentState`` to the user's change log.
"""

from __future__ import annotations

from typing import Final

from edge_sdk.client import EdgeClient
from sync.messages import ConsentScope, SetConsent, TokenPair
from tests.support.live_server import LiveServer, sync_ok

GRANTED_AT: Final = 0
"""``created_at`` of :func:`grant_share_aggregates_over_http`'s grant: made long ago, so any consent
change a test makes afterwards is newer (the cloud orders changes by when they were made)."""


def grant_share_aggregates(client: EdgeClient) -> int | None:
    """Queue the grant unless the client's store already has it; its seq, or ``None``."""
    if client.consent().scopes.get(ConsentScope.SHARE_AGGREGATES.value):
        return None
    return client.set_consent(ConsentScope.SHARE_AGGREGATES, True)


def grant_share_aggregates_over_http(server: LiveServer, user_id: str) -> TokenPair:
    """Grant ``share_aggregates`` for ``user_id`` from a new device of the user's; its tokens."""
    tokens = server.new_device(user_id)
    grant = SetConsent(seq=1, created_at=GRANTED_AT, scope=ConsentScope.SHARE_AGGREGATES, granted=True)
    reply = sync_ok(server, tokens, [grant], pull_limit=0)
    assert [(r.seq, r.status, r.detail) for r in reply.results] == [(1, "applied", None)], reply.results
    return tokens
