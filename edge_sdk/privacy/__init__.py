"""Privacy on the device: consent gating, window-score retention, daily aggregates released through
k-ary randomized response, and the ε ledger. Only daily aggregates ever leave the device.
"""

from edge_sdk.privacy.consent import ConsentGate
from edge_sdk.privacy.daily import ReleasedDay, ReleaseReport
from edge_sdk.privacy.errors import (
    ConsentRequired,
    InvalidPrivacySettings,
    InvalidTzOffset,
    InvalidWindowScores,
)
from edge_sdk.privacy.ledger import LedgerEntry, PrivacyLedger
from edge_sdk.privacy.scores import WindowScore
from edge_sdk.privacy.settings import PrivacySettings
from sync.rr import probability_true

__all__ = [
    "ConsentGate",
    "ConsentRequired",
    "InvalidPrivacySettings",
    "InvalidTzOffset",
    "InvalidWindowScores",
    "LedgerEntry",
    "PrivacyLedger",
    "PrivacySettings",
    "ReleaseReport",
    "ReleasedDay",
    "WindowScore",
    "probability_true",
]
