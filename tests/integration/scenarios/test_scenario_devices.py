"""Two devices of one user share consent and notices through the cloud (issue 2 §5)."""

from __future__ import annotations

from sync.messages import ConsentScope
from tests.integration.scenarios.devices import NewDevice, aggregate, assert_aggregate_stored, days_stored
from tests.support.live_server import LiveServer


def test_two_devices_of_one_user(scenario_server: LiveServer, new_device: NewDevice) -> None:
    user_id = scenario_server.create_user()
    phone = new_device(scenario_server, "phone")
    tablet = new_device(scenario_server, "tablet")
    phone_id = phone.client.enroll(scenario_server.enrollment_code(user_id))
    tablet_id = tablet.client.enroll(scenario_server.enrollment_code(user_id))

    # Consent granted on the phone reaches the tablet.
    phone.client.set_consent(ConsentScope.SHARE_AGGREGATES, True)
    phone.client.submit_aggregate(**aggregate(0))
    tablet.client.submit_aggregate(**aggregate(0, variant=1))
    assert phone.client.sync().ok
    assert tablet.client.consent().scopes["share_aggregates"] is False
    assert tablet.client.sync().ok
    assert tablet.client.consent().scopes == {"inference": False, "share_aggregates": True, "push": False}
    assert tablet.client.consent().pending == []

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

    # Conflicting consent written offline on both: the one the cloud applies last wins everywhere.
    tablet.client.set_consent(ConsentScope.INFERENCE, True)
    phone.client.set_consent(ConsentScope.INFERENCE, False)
    phone.client.set_consent(ConsentScope.PUSH, True)
    assert tablet.client.sync().ok and phone.client.sync().ok and tablet.client.sync().ok
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
