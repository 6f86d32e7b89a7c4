"""The cloud's consent rules, as pure functions (table-tested; the store engines apply them).

- The cloud stores a user's aggregates only under a **recorded grant** of ``share_aggregates``: a
  scope never set is not granted (privacy by default), and a revoked one erased what it covered.
- Consent set from several devices is ordered by when each change was made, on the server's clock:
  the ``SetConsent``'s ``created_at`` corrected with the device's measured skew (never later than
  its arrival). A change older than the scope's recorded one was overtaken by a newer decision on
  another device; it changes nothing, and the user's devices are sent the consent that stands.
- Devices mirror consent as one ``ConsentState`` listing every scope with an explicit value.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Final

from sync.codes import RejectionCode
from sync.messages import ConsentScope
from sync.timing import to_server_time

SUPERSEDED: Final = "superseded: the scope was changed later on another device"
"""``detail`` of an applied ``SetConsent`` that changed nothing because a newer change stands."""


class ConsentOrder(enum.StrEnum):
    APPLY = "apply"
    STALE = "stale"
    """Older than the scope's recorded change: a no-op."""


def changed_at(created_at: int, skew_ms: int, arrived_at: int) -> int:
    """When a ``SetConsent`` was made, on the server's clock, never later than its arrival."""
    return min(to_server_time(created_at, skew_ms), arrived_at)


def order_change(changed_at_ms: int, recorded_at_ms: int | None) -> ConsentOrder:
    """Whether a change made at ``changed_at_ms`` replaces the scope's recorded one.

    A tie goes to the change processed later, as it would on one device.
    """
    if recorded_at_ms is not None and changed_at_ms < recorded_at_ms:
        return ConsentOrder.STALE
    return ConsentOrder.APPLY


def aggregate_refusal(share_aggregates: bool | None) -> tuple[RejectionCode, str] | None:
    """Why a ``SubmitAggregate`` may not be stored, given the user's ``share_aggregates``; ``None``
    when it may."""
    if share_aggregates is True:
        return None
    if share_aggregates is False:
        # Another device revoked sharing: this one has not heard yet, and what it queued before
        # hearing must not re-enter the cloud after the revoke erased it.
        return RejectionCode.CONSENT_MISSING, "share_aggregates is revoked"
    return RejectionCode.CONSENT_MISSING, "share_aggregates was never granted"


def consent_scopes(recorded: Mapping[str, bool]) -> dict[ConsentScope, bool]:
    """Every scope with an explicit value (a scope never set is not granted), for ``ConsentState``."""
    return {scope: recorded.get(scope.value, False) for scope in ConsentScope}
