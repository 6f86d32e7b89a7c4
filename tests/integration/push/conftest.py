"""A store with one user, one device with a push token and an accepted offer, on a real SQLite file."""

from __future__ import annotations

from cloud.domain.sync.digest import mutation_digest
from cloud.store.engines.sqlite import SqliteStore
from cloud.store.records import PushItem
from sync.messages import ConsentScope, Mutation, Platform, RegisterPushToken, SetConsent
from tests.unit.cloud.offers.test_outbox_sqlite import NOW, accepted_offer

TOKEN = "fcm-token-dev-1"


async def sync_mutations(store: SqliteStore, *mutations: Mutation) -> None:
    outcome = await store.sync(
        device_id="dev_1",
        items=[PushItem(seq=m.seq, mutation=m, digest=mutation_digest(m)) for m in mutations],
        skew_ms=0,
        after_version=0,
        pull_limit=10,
        now=NOW + 2,
    )
    assert all(r.status == "applied" for r in outcome.results)


async def accepted_with_token(store: SqliteStore, *, consent: bool, token: str = TOKEN) -> int:
    """The ``apply_offer`` outbox id of an accepted offer; the device registered ``token``."""
    outbox_id = await accepted_offer(store)
    await sync_mutations(
        store,
        SetConsent(seq=2, created_at=NOW, scope=ConsentScope.PUSH, granted=consent),
        RegisterPushToken(seq=3, created_at=NOW, token=token, platform=Platform.ANDROID),
    )
    return outbox_id
