"""One named exception per way publishing a model release can fail (mapped to answers in
:data:`cloud.problems.DOMAIN_PROBLEMS`)."""

from __future__ import annotations

from cloud.domain_errors import DomainError


class ReleaseInvalid(DomainError):
    """A release whose files do not match what it says: no signature, a ``manifest.json`` whose
    SHA-256 is not the signed one, versions other than the signed ones, or files missing from, or
    not named by, the manifest. Every device would refuse it, so the cloud does not store it."""
