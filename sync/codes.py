"""Stable string codes: HTTP error codes, per-mutation rejection codes, result statuses."""

from enum import StrEnum


class ErrorCode(StrEnum):
    """The ``code`` of a problem+json answer; stable across releases."""

    INVALID_BODY = "invalid_body"
    """The envelope could not be decoded (not msgpack/JSON, wrong shape, a mutation without a seq)."""
    UNSUPPORTED_PROTOCOL = "unsupported_protocol"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    TOO_MANY_MUTATIONS = "too_many_mutations"
    BODY_TOO_LARGE = "body_too_large"
    INVALID_CURSOR = "invalid_cursor"
    SEQ_CONFLICT = "seq_conflict"
    """A pushed mutation reuses a processed seq with other content: the device's store was rolled back."""
    DEVICE_MISMATCH = "device_mismatch"
    """The request names a device other than the one its token was issued to."""
    TOKEN_MISSING = "token_missing"
    TOKEN_INVALID = "token_invalid"
    TOKEN_EXPIRED = "token_expired"
    DEVICE_REVOKED = "device_revoked"
    REFRESH_INVALID = "refresh_invalid"
    REFRESH_REUSED = "refresh_reused"
    """An older, already rotated refresh token was presented: the device's tokens are revoked."""
    ENROLLMENT_CODE_INVALID = "enrollment_code_invalid"
    ENROLLMENT_CODE_EXPIRED = "enrollment_code_expired"
    ENROLLMENT_CODE_USED = "enrollment_code_used"
    REPLACES_DEVICE_INVALID = "replaces_device_invalid"
    """``EnrollRequest.replaces_device_id`` names no device of the enrollment code's user."""
    ADMIN_UNAUTHORIZED = "admin_unauthorized"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    OFFER_CLOSED = "offer_closed"
    """An admin action needs an offer that is still ``offered`` (e.g. withdrawing an accepted one)."""
    OUTBOX_NOT_RETRYABLE = "outbox_not_retryable"
    """An admin retry of an outbox row that is not dead-lettered, or whose work can no longer be done."""
    OFFER_IN_FLIGHT = "offer_in_flight"
    """An evaluation was requested for a user who has an ``offered`` or ``accepted`` offer, or an
    erasure for a user whose ``accepted`` offer is not yet applied."""
    REVIEW_CLOSED = "review_closed"
    """An admin request to close a review that was closed already."""
    USER_ERASED = "user_erased"
    """An admin request names an erased user (only a tombstone and unlinked money records are left)."""
    LOGIN_FAILED = "login_failed"
    """An operator login was refused: unknown name, wrong password, locked or disabled account alike."""
    ROLE_FORBIDDEN = "role_forbidden"
    """The operator's role does not allow this admin request."""
    CSRF_FAILED = "csrf_failed"
    """A write authenticated by the session cookie without the session's ``X-CSRF-Token``."""
    OPERATOR_EXISTS = "operator_exists"
    """An operator account with that username exists."""
    BOOTSTRAP_CLOSED = "bootstrap_closed"
    """The first admin account exists; bootstrap works once."""
    LAST_ADMIN = "last_admin"
    """The change would leave no enabled admin account."""
    ORIGIN_REFUSED = "origin_refused"
    """A browser request from a page of another origin (the dashboard's stream is same-origin only)."""
    VALIDATION_FAILED = "validation_failed"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"


class RejectionCode(StrEnum):
    """Why the server refused one mutation. A refused mutation still advances ``last_seq``."""

    INVALID_MUTATION = "invalid_mutation"
    """The mutation could not be decoded or failed validation."""
    UNKNOWN_OFFER = "unknown_offer"
    OFFER_NOT_OPEN = "offer_not_open"
    OFFER_EXPIRED = "offer_expired"
    CONSENT_MISSING = "consent_missing"
    DUPLICATE_DAY = "duplicate_day"
    """A second ``SubmitAggregate`` for a day the device's lineage already has one for.

    A lineage is a device and every device that replaced it on re-enrollment."""
    UNKNOWN_NOTICE = "unknown_notice"
    USER_ERASED = "user_erased"
    """The device's user was erased: nothing the device sends is processed, and the reply carries
    only the ``Wipe`` that erases the device."""


class ResultStatus(StrEnum):
    """What happened to one pushed mutation."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"
    """``seq <= last_seq``: already processed by an earlier request; nothing was done again."""
    REJECTED = "rejected"
