"""Change-log compaction (spec §5.5): which changes a later change of the same entity replaces.

Every change is a whole state — an offer, the profile, a notice, the consent, a model release, the
wipe — and a device applies each by replacing what it holds (§6.4). A change followed by a later
one of the same entity therefore adds nothing for a device that pulls both: dropping it leaves
every device in the same end state. The latest change of each entity, an ``OfferRemoved``
included, is never dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

from sync.messages import (
    AnyChange,
    ConsentState,
    ModelRelease,
    Notice,
    OfferRemoved,
    OfferUpsert,
    ProfileUpdate,
    Wipe,
)


def entity_of(change: AnyChange) -> tuple[str, str]:
    """What ``change`` is the state of: a kind and, for offers, notices and models, an id."""
    if isinstance(change, OfferUpsert):
        return ("offer", change.offer.offer_id)
    if isinstance(change, OfferRemoved):
        return ("offer", change.offer_id)
    if isinstance(change, Notice):
        return ("notice", change.notice_id)
    if isinstance(change, ModelRelease):
        # Release numbers only grow and a device wants the latest: one entity per user.
        return ("model", "")
    if isinstance(change, ProfileUpdate):
        return ("profile", "")
    if isinstance(change, ConsentState):
        return ("consent", "")
    if isinstance(change, Wipe):
        return ("wipe", "")
    raise TypeError(f"not a change: {type(change).__name__}")


def superseded(changes: Sequence[tuple[int, AnyChange]]) -> list[int]:
    """The versions, ascending, of the changes a later change of the same entity replaces."""
    latest: dict[tuple[str, str], int] = {}
    for version, change in changes:
        key = entity_of(change)
        latest[key] = max(version, latest.get(key, version))
    return sorted(version for version, change in changes if latest[entity_of(change)] != version)
