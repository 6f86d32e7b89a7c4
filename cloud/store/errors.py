"""The store's named failures (no HTTP status: :mod:`cloud.problems` maps them to answers)."""

from __future__ import annotations

from cloud.domain_errors import DomainError


class StoreError(DomainError):
    """Base of the store's failures."""


class UserNotFound(StoreError):
    """No user with that id."""


class UserErased(UserNotFound):
    """The user was erased: only a tombstone and the money records, unlinked, are left."""


class ReviewNotFound(StoreError):
    """No review request with that id."""


class ReviewAlreadyClosed(StoreError):
    """The review request was closed already."""


class ReleaseNotFound(StoreError):
    """No model release with that number."""


class ReleaseExists(StoreError):
    """A release with that number or above was published already: release numbers only grow."""


class RolloutNarrowed(StoreError):
    """A rollout only widens: devices that have a release keep it (roll back with a newer release)."""


class ErasureBlocked(StoreError):
    """The user has an accepted offer not yet applied: money is in flight, so erasure waits."""


class DeviceNotFound(StoreError):
    """No device with that id (a token of an identity the store no longer has, or an admin typo)."""


class DeviceRevoked(StoreError):
    """The device was revoked (by an operator, a re-enrollment or a reused refresh token)."""


class EnrollmentCodeInvalid(StoreError):
    """No such enrollment code."""


class EnrollmentCodeExpired(StoreError):
    """The enrollment code has expired."""


class EnrollmentCodeUsed(StoreError):
    """The enrollment code was already used."""


class ReplacesDeviceInvalid(StoreError):
    """``replaces_device_id`` names a device that does not exist or belongs to another user.

    Both cases are one failure, so a code holder learns nothing about other users' devices.
    """


class SeqConflict(StoreError):
    """A pushed mutation reuses a seq the server already processed, with other content.

    The device's store was restored from a backup and is allocating seqs again: answering
    ``duplicate`` would make it delete new mutations the server never stored. The whole request
    is refused and nothing of it is kept; the device must re-enroll (spec §5.2, §6.5).
    """


class CursorAhead(StoreError):
    """A cursor above the user's change-log version: the server's data was restored from a backup."""


class StoreUnavailable(StoreError):
    """The database is busy or unreachable for now (a lock held past the timeout, contention that
    outlasted the retries, a connection lost); trying again later is right."""

    def __init__(self, detail: str | None = None, retry_after_s: int = 1) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class OperatorNotFound(StoreError):
    """No operator account with that username."""


class OperatorExists(StoreError):
    """An operator account with that username exists already."""


class LastAdmin(StoreError):
    """The change would leave no enabled admin account: nobody could manage accounts any more."""


class BootstrapClosed(StoreError):
    """An operator account exists: the first admin is created once, never again this way."""


class ServiceKeyNotFound(StoreError):
    """No service key with that id."""


class TextNotStorable(StoreError):
    """A text value the database cannot hold: PostgreSQL refuses the NUL character."""
