"""Test-only: treat ``share_aggregates`` as granted on the device.

The sync-spine tests (engine, scenarios) queue aggregates as plain mutations and assert on their
seqs, batches and request counts; a ``SetConsent`` before them would shift every figure without
testing anything about consent. The privacy tests (tests/unit/edge_sdk/privacy) test the gate
for real and do not use this.
"""

from __future__ import annotations

import pytest

from edge_sdk.store import privacy as privacy_tables


def grant_share_aggregates(monkeypatch: pytest.MonkeyPatch) -> None:
    effective = privacy_tables.effective_consent
    monkeypatch.setattr(
        privacy_tables, "effective_consent", lambda db: {**effective(db), "share_aggregates": True}
    )
