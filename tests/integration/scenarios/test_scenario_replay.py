"""A refusal whose reply was lost is heard by the device when it resends (spec §5.2, Replay).

An offer is withdrawn; the phone, not yet aware, accepts it; the server refuses the acceptance
(``offer_not_open``) but the reply is lost. Before, the resend was answered ``duplicate`` and the
device never learned that its money action was refused; now the server replays the recorded
result and the SDK reports the rejection to the app.
"""

from __future__ import annotations

import time

from cloud.constants import SYNC_PATH
from edge_sdk.errors import TransportError
from edge_sdk.sync_client.outcome import SyncStatus
from edge_sdk.sync_client.transport import TransportRequest
from tests.integration.scenarios.devices import NewDevice
from tests.support.live_server import LiveServer

PROFILE = {"currency": "EUR", "limit_cents": 100_000, "used_cents": 0, "rate_bps": 1_990}


def test_a_refused_acceptance_whose_reply_was_lost_is_reported(
    scenario_server: LiveServer, new_device: NewDevice
) -> None:
    server = scenario_server
    user_id = server.create_user()
    assert server.admin.post(f"/v1/admin/users/{user_id}/profile", json=PROFILE).status_code == 200
    terms = {
        "new_limit_cents": 150_000,
        "rate_bps": 1_790,
        "expires_at": time.time_ns() // 1_000_000 + 86_400_000,
    }
    created = server.admin.post(f"/v1/admin/users/{user_id}/offers", json=terms)
    assert created.status_code == 201, created.text
    offer_id = created.json()["offer"]["offer_id"]
    device = new_device(server, "phone")
    device.client.enroll(server.enrollment_code(user_id))
    assert device.client.sync().status is SyncStatus.SYNCED
    assert [o.status for o in device.client.offers()] == ["offered"]

    assert server.admin.post(f"/v1/admin/offers/{offer_id}/withdraw", json={}).status_code == 200
    seq = device.client.accept_offer(offer_id)

    def lose_the_reply(request: TransportRequest) -> None:
        if request.path == SYNC_PATH:
            device.transport.on_delivered = None
            raise TransportError("reply lost")

    device.transport.on_delivered = lose_the_reply
    assert device.client.sync().status is SyncStatus.RETRY_SCHEDULED
    assert device.client.rejections() == []

    again = device.client.sync(force=True)
    assert again.status is SyncStatus.SYNCED
    assert [(r.seq, r.type, r.code) for r in again.rejected] == [(seq, "AcceptOffer", "offer_not_open")]
    assert [(r.seq, r.code) for r in device.client.rejections()] == [(seq, "offer_not_open")]
    [offer] = device.client.offers()
    assert (offer.status, offer.pending) == ("withdrawn", False)
