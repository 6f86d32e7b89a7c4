"""Answering "may the SDK do X?" from the user's effective consent.

Effective consent is the mirror of the cloud's consent with this device's pending ``SetConsent``
mutations laid over it (a scope the user never set is not granted), exactly what
``EdgeClient.consent()`` shows. Writers that must not race a revoke (queueing an aggregate,
storing window scores) check consent inside their own store transaction; this gate serves the
hot paths (capture's ``record()``), so it answers from a snapshot that the client refreshes
after every call that can change consent (``set_consent``, ``sync``, ``enroll``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from edge_sdk.privacy.errors import ConsentRequired
from sync.messages import ConsentScope


def require(scopes: Mapping[str, bool], scope: ConsentScope) -> None:
    """Raise :class:`ConsentRequired` unless ``scope`` is granted in ``scopes``."""
    if not scopes.get(str(scope), False):
        raise ConsentRequired(str(scope))


class ConsentGate:
    """Cached view of the effective consent scopes.

    :param read: returns every scope's effective value (``EdgeClient`` passes its ``consent()``
        reader); called once now and again on every :meth:`refresh`.
    """

    def __init__(self, read: Callable[[], Mapping[str, bool]]) -> None:
        self._read = read
        self._scopes: dict[str, bool] = {}
        self.refresh()

    def refresh(self) -> None:
        """Re-read the effective consent (after anything that may have changed it)."""
        # Replaced as a whole, so a reader on another thread sees either snapshot, never a mix.
        self._scopes = dict(self._read())

    def allows(self, scope: ConsentScope | str) -> bool:
        """True when ``scope`` is granted; an unknown scope is never granted."""
        return self._scopes.get(str(scope), False)

    def enabled(self, scope: ConsentScope | str) -> Callable[[], bool]:
        """A no-argument predicate for ``scope``, e.g. the capture recorder's ``enabled``."""
        checked = str(ConsentScope(scope))
        return lambda: self.allows(checked)
