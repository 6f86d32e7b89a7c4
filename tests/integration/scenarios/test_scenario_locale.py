"""A phone set to Portuguese: the offer's reasons and the notice about its money arrive in pt-BR,
over the real server (spec §5.8)."""

from __future__ import annotations

import time

from cloud.domain.credit.explanations import REASONS
from edge_sdk.sync_client.outcome import SyncStatus
from sync.locales import Locale
from tests.integration.scenarios.devices import DAY_MS, NewDevice
from tests.support.live_server import LiveServer

PROFILE = {"currency": "BRL", "limit_cents": 100_000, "used_cents": 0, "rate_bps": 1_990}


def test_a_portuguese_phone_reads_its_offer_in_portuguese(
    scenario_server: LiveServer, new_device: NewDevice
) -> None:
    phone = new_device(scenario_server, "phone", locale="pt_BR")
    user_id = scenario_server.create_user()
    phone.client.enroll(scenario_server.enrollment_code(user_id))
    assert phone.client.sync().status is SyncStatus.SYNCED  # the cloud now knows the user's locale
    assert scenario_server.admin.post(f"/v1/admin/users/{user_id}/profile", json=PROFILE).status_code == 200
    terms = {
        "new_limit_cents": 150_000,
        "rate_bps": 1_790,
        "expires_at": time.time_ns() // 1_000_000 + DAY_MS,
        "reason_codes": ["ONTIME_12", "RISK_BAND_B", "GUARDRAIL_BELOW_THRESHOLD"],
    }
    created = scenario_server.admin.post(f"/v1/admin/users/{user_id}/offers", json=terms)
    assert created.status_code == 201, created.text
    assert created.json()["offer"]["reasons"][1] == REASONS["RISK_BAND_B"][Locale.PT_BR]

    assert phone.client.sync(force=True).status is SyncStatus.SYNCED
    (offer,) = phone.client.offers()
    assert offer.reasons == [REASONS[code][Locale.PT_BR] for code in terms["reason_codes"]]


def test_a_person_reviews_the_decision_the_user_questions(
    scenario_server: LiveServer, new_device: NewDevice
) -> None:
    phone = new_device(scenario_server, "phone", locale="pt-BR")
    user_id = scenario_server.create_user()
    phone.client.enroll(scenario_server.enrollment_code(user_id))
    assert scenario_server.admin.post(f"/v1/admin/users/{user_id}/profile", json=PROFILE).status_code == 200
    expires_at = time.time_ns() // 1_000_000 + DAY_MS
    created = scenario_server.admin.post(
        f"/v1/admin/users/{user_id}/offers",
        json={"new_limit_cents": 120_000, "rate_bps": 1_790, "expires_at": expires_at},
    )
    offer_id = created.json()["offer"]["offer_id"]
    assert phone.client.sync().status is SyncStatus.SYNCED

    # Offline is fine: the request waits in the outbox like any write.
    phone.client.request_review(offer_id, "Minha renda aumentou.")
    assert phone.client.sync().status is SyncStatus.SYNCED
    listed = scenario_server.admin.get("/v1/admin/reviews", params={"status": "open"}).json()["items"]
    (task,) = [r for r in listed if r["user_id"] == user_id]
    assert (task["offer_id"], task["note"], task["status"]) == (offer_id, "Minha renda aumentou.", "open")

    closed = scenario_server.admin.post(
        f"/v1/admin/reviews/{task['review_id']}/close",
        json={"resolution": "Revisamos e a oferta foi mantida."},
    )
    assert closed.status_code == 200, closed.text
    assert (closed.json()["status"], closed.json()["closed_by"]) == ("closed", "admin")
    again = scenario_server.admin.post(
        f"/v1/admin/reviews/{task['review_id']}/close", json={"resolution": "x"}
    )
    assert (again.status_code, again.json()["code"]) == (409, "review_closed")

    assert phone.client.sync(force=True).status is SyncStatus.SYNCED
    (notice,) = phone.client.notices()
    assert (notice.kind, notice.title) == (
        "review_completed",
        "Uma pessoa revisou a decisão sobre sua oferta",
    )
    assert notice.body == "Resposta do revisor: Revisamos e a oferta foi mantida."
    assert phone.client.rejections() == []
