"""Store conformance: the user's locale, set by a device's sync, is the language the offer's reasons
and the money notices are written in (spec §5.8). Run per backend by the conftest."""

from __future__ import annotations

import msgspec
import pytest

from cloud.domain.credit.explanations import REASONS
from cloud.store import Store
from sync.codec import decode_change
from sync.locales import Locale
from sync.messages import AcceptOffer, OfferUpsert
from tests.conformance.test_store_conformance import NOW, enrolled, item
from tests.conformance.test_store_credit_conformance import profile, terms

pytestmark = pytest.mark.anyio


async def sync_in(store: Store, locale: str | None) -> None:
    await store.sync(
        device_id="dev_1",
        items=[],
        skew_ms=0,
        after_version=0,
        pull_limit=0,
        now=NOW + 1,
        locale=locale,
    )


async def offer_reasons(store: Store, offer_id: str) -> list[str]:
    offer = await store.get_offer(offer_id)
    assert offer is not None
    upserts = [
        change
        for stored in await store.change_log("usr_1")
        if isinstance(change := decode_change(stored.body), OfferUpsert) and change.offer.offer_id == offer_id
    ]
    # What the devices are sent is what the store keeps.
    assert upserts and all(u.offer.reasons == offer.reasons for u in upserts)
    return offer.reasons


async def test_offers_and_notices_are_written_in_the_users_locale(store: Store) -> None:
    await enrolled(store)
    await store.set_profile(profile(), actor="admin", reason_code="profile_set")
    codes = ["RISK_BAND_A", "LENDER_OWN_CODE", "GUARDRAIL_NO_SIGNAL"]

    # No device has sent a locale: English.
    await store.create_offer(terms(offer_id="off_en"), actor="admin", now=NOW)
    assert await offer_reasons(store, "off_en") == [REASONS[c][Locale.EN] for c in terms().reason_codes]
    await store.withdraw_offer("off_en", actor="admin", reason_code="withdrawn", now=NOW)

    await sync_in(store, "pt-BR")
    await sync_in(store, None)  # a device that sends none changes nothing
    pt_terms = msgspec.structs.replace(terms(offer_id="off_pt"), reason_codes=codes)
    await store.create_offer(pt_terms, actor="admin", now=NOW)
    assert await offer_reasons(store, "off_pt") == [
        REASONS["RISK_BAND_A"][Locale.PT_BR],
        REASONS["GUARDRAIL_NO_SIGNAL"][Locale.PT_BR],
    ]
    # The reasons stay as the user was shown them when the locale changes later.
    await sync_in(store, "en")
    assert (await offer_reasons(store, "off_pt"))[0] == REASONS["RISK_BAND_A"][Locale.PT_BR]

    # The notice of an applied offer is written in the locale the accepting request carried.
    accept = item(AcceptOffer(seq=1, created_at=NOW, offer_id="off_pt"))
    outcome = await store.sync(
        device_id="dev_1",
        items=[accept],
        skew_ms=0,
        after_version=0,
        pull_limit=0,
        now=NOW + 2,
        locale="pt-BR",
    )
    (apply_row,) = outcome.outbox
    assert await store.apply_offer(apply_row.outbox_id, ref="job:1:0", now=NOW + 3) == "applied"
    (notice,) = (await store.user_view("usr_1")).notices
    assert (notice.title, notice.body) == (
        "Seu novo limite de crédito está ativo",
        "Seu limite de crédito agora é 1.500,00 EUR.",
    )
