"""The demo seed releases with the SDK's default mechanism, written out in the cloud (which does not
import the SDK): the two must not drift apart."""

from __future__ import annotations

from cloud.seed import SEED_MECHANISM
from edge_sdk.privacy.daily import mechanism_of
from edge_sdk.privacy.settings import PrivacySettings


def test_the_seed_releases_with_the_sdks_default_mechanism() -> None:
    assert mechanism_of(PrivacySettings()) == SEED_MECHANISM
