"""Every failure the edge SDK reports, one named exception each, all under :class:`EdgeError`.

Failures the SDK recovers from by itself (a lost network, a busy server) are not raised from
``sync()``: they become a :class:`~edge_sdk.sync_client.outcome.SyncOutcome` saying when the
next attempt is due. Everything here is something the host app may have to act on.
"""

from __future__ import annotations


class EdgeError(Exception):
    """Base of every exception the edge SDK raises on purpose."""


class InvalidSettings(EdgeError, ValueError):
    """An :class:`~edge_sdk.settings.EdgeSettings` value is out of range."""


class StoreError(EdgeError):
    """The local store cannot be opened or migrated (corrupt file, schema from a newer SDK)."""


class InvalidMutation(EdgeError, ValueError):
    """Bad input to a write method; nothing was stored."""


class NotEnrolled(EdgeError):
    """The operation needs a device identity and this store has none (never enrolled, or wiped)."""


class AlreadyEnrolled(EdgeError):
    """``enroll()`` was called on a store that already holds a device identity."""


class EnrollmentFailed(EdgeError):
    """The cloud refused the enrollment code (invalid, expired or already used)."""

    def __init__(self, code: str, status: int, detail: str | None = None) -> None:
        super().__init__(f"enrollment refused: {code} (HTTP {status})" + (f": {detail}" if detail else ""))
        self.code = code
        self.status = status
        self.detail = detail


class DeviceRevoked(EdgeError):
    """The cloud no longer accepts this device (revoked, or its refresh tokens were revoked on reuse).

    The store records the loss and discards its tokens; ``sync()`` raises this at once, without
    the network, until the device re-enrolls: with a re-enrollment provider ``sync()`` does it
    itself, otherwise the host app calls ``enroll()`` with a fresh code. Pending mutations and the
    mirror are kept and the outbox is re-queued under the new identity.
    """

    def __init__(self, code: str, detail: str | None = None) -> None:
        super().__init__(f"device no longer accepted: {code}" + (f": {detail}" if detail else ""))
        self.code = code
        self.detail = detail


class AuthenticationFailed(EdgeError):
    """The cloud refused a freshly refreshed access token; retrying would not help."""

    def __init__(self, code: str, detail: str | None = None) -> None:
        super().__init__(f"access token refused after a refresh: {code}")
        self.code = code
        self.detail = detail


class DeviceStateRolledBack(EdgeError):
    """The cloud has seen this device's seqs beyond what this store holds: it was restored from an
    older copy (a phone backup).

    Two answers show it: a reply acknowledging a seq above the highest this store ever allocated
    (``last_seq`` is set), or ``409 seq_conflict``, the cloud having processed a different mutation
    at a seq this store is pushing (``last_seq`` is ``None``). New mutations would reuse seqs the
    cloud already processed and be dropped as duplicates, so the device must re-enroll.
    """

    def __init__(self, last_seq: int | None, highest_seq_allocated: int, detail: str | None = None) -> None:
        if last_seq is None:
            message = (
                "cloud processed a different mutation at a seq this store is pushing (seq_conflict); "
                f"this store allocated up to {highest_seq_allocated}"
            )
        else:
            message = f"cloud acknowledged seq {last_seq} but this store only allocated up to "
            message += str(highest_seq_allocated)
        super().__init__(message + (f": {detail}" if detail else ""))
        self.last_seq = last_seq
        self.highest_seq_allocated = highest_seq_allocated
        self.detail = detail


class ProtocolError(EdgeError):
    """An answer the protocol does not allow here (undecodable reply, unexpected status or code)."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class TransportError(EdgeError):
    """The request did not produce an HTTP answer (no network, timeout, connection reset)."""


class ServerUnavailable(EdgeError):
    """The cloud answered 429, 503 or another 5xx; the engine backs off and retries later."""

    def __init__(self, status: int, retry_after_s: float | None) -> None:
        super().__init__(f"cloud unavailable (HTTP {status})")
        self.status = status
        self.retry_after_s = retry_after_s
