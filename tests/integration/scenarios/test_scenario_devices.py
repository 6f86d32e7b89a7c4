"""Two devices of one user share consent and notices through the cloud (issue 2 §5)."""

from __future__ import annotations

import pytest

from edge_sdk.privacy.errors import ConsentRequired
from sync.messages import ConsentScope
from tests.integration.scenarios.devices import (
    ManualClock,
    NewDevice,
    aggregate,
    assert_aggregate_stored,
    days_stored,
)
from tests.support.live_server import LiveServer


def test_two_devices_of_one_user(scenario_server: LiveServer, new_device: NewDevice) -> None:
    user_id = scenario_server.create_user()
    phone = new_device(scenario_server, "phone", clock=ManualClock())
    tablet = new_device(scenario_server, "tablet", clock=ManualClock())
    phone_id = phone.client.enroll(scenario_server.enrollment_code(user_id))
    tablet_id = tablet.client.enroll(scenario_server.enrollment_code(user_id))

    # Consent granted on the phone reaches the tablet; until it does, the tablet sends no aggregate.
    phone.client.set_consent(ConsentScope.SHARE_AGGREGATES, True)
    phone.client.submit_aggregate(**aggregate(0))
    assert phone.client.sync().ok
    assert tablet.client.consent().scopes["share_aggregates"] is False
    with pytest.raises(ConsentRequired):
        tablet.client.submit_aggregate(**aggregate(0, variant=1))
    assert tablet.client.sync().ok
    assert tablet.client.consent().scopes == {"inference": False, "share_aggregates": True, "push": False}
    assert tablet.client.consent().pending == []
    tablet.client.submit_aggregate(**aggregate(0, variant=1))

    # Notices reach both devices.
    for title in ("welcome", "terms"):
        scenario_server.add_notice(user_id, title=title, body=f"{title} body")
    assert phone.client.sync().ok and tablet.client.sync().ok
    for device in (phone, tablet):
        assert [(n.title, n.body) for n in device.client.notices()] == [
            ("welcome", "welcome body"),
            ("terms", "terms body"),
        ]

    terms_id = phone.client.notices()[1].notice_id

    # Conflicting consent written offline on both: the change made last wins everywhere, whatever
    # order the cloud receives them in. The tablet's is a minute older (the clocks run on before
    # anything is sent, so the cloud dates each change by its skew-corrected created_at) and
    # arrives last: it changes nothing, and the tablet is sent the consent that stands.
    tablet.client.set_consent(ConsentScope.INFERENCE, True)
    for device in (phone, tablet):
        assert device.clock is not None
        device.clock.advance(60_000)
    phone.client.set_consent(ConsentScope.INFERENCE, False)
    phone.client.set_consent(ConsentScope.PUSH, True)
    assert phone.client.sync().ok and tablet.client.sync().ok and phone.client.sync().ok
    view = scenario_server.user_view(user_id)
    assert view["consent"] == {"share_aggregates": True, "inference": False, "push": True}
    for device in (phone, tablet):
        assert device.client.store.mirror_consent() == view["consent"]
        assert device.client.consent().pending == []

    # An acknowledgement made on the phone is stored by the cloud and reaches the tablet too.
    welcome = phone.client.notices()[0]
    phone.client.ack_notice(welcome.notice_id)
    shown = {n.notice_id: n for n in phone.client.notices()}[welcome.notice_id]
    assert shown.acked and shown.pending
    assert phone.client.sync().ok and tablet.client.sync().ok
    view = scenario_server.user_view(user_id)
    assert {n["notice_id"]: n["acked"] for n in view["notices"]} == {welcome.notice_id: True, terms_id: False}
    for device in (phone, tablet):
        notices = {n.notice_id: (n.acked, n.pending) for n in device.client.notices()}
        assert notices == {welcome.notice_id: (True, False), terms_id: (False, False)}

    # Each device's aggregate is stored once, under its own device id.
    assert days_stored(view, phone_id) == {aggregate(0)["day"]: 1}
    assert days_stored(view, tablet_id) == {aggregate(0)["day"]: 1}
    assert_aggregate_stored(view, phone_id, 0)
    assert_aggregate_stored(view, tablet_id, 0, variant=1)
    assert {d["device_id"] for d in view["devices"]} == {phone_id, tablet_id}
