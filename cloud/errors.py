"""One named exception per failure the API itself reports, each carrying its HTTP status and code.

The HTTP layer and the services raise these (a body that cannot be decoded, a bad token, an admin
token missing); the store and the domain raise :class:`cloud.domain_errors.DomainError`s without
HTTP, which :mod:`cloud.problems` maps. Either way the client gets ``application/problem+json``
with a stable ``code``; tests can tell failures apart by class or by ``code``.
"""

from __future__ import annotations

from typing import ClassVar

from sync.codes import ErrorCode


class ApiError(Exception):
    """Base of every failure with a problem+json answer."""

    status: ClassVar[int] = 500
    code: ClassVar[ErrorCode] = ErrorCode.INTERNAL
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.title)
        self.detail = detail


class InvalidBody(ApiError):
    status = 400
    code = ErrorCode.INVALID_BODY
    title = "Request body could not be decoded"


class BodyReadTimeout(InvalidBody):
    """The request body stopped arriving before its ``Content-Length`` was reached.

    An incomplete body cannot be decoded, so it is an ``invalid_body`` like any other (the protocol's
    code; a client backs off and sends a new request). Raised by
    :mod:`cloud.body_timeout` after ``BODY_READ_TIMEOUT_S`` without data.
    """

    title = "Request body did not arrive"


class ValidationFailed(ApiError):
    status = 400
    code = ErrorCode.VALIDATION_FAILED
    title = "Request failed validation"


class UnsupportedProtocol(ApiError):
    status = 400
    code = ErrorCode.UNSUPPORTED_PROTOCOL
    title = "Unsupported protocol version"


class InvalidCursorError(ApiError):
    status = 400
    code = ErrorCode.INVALID_CURSOR
    title = "Cursor was not issued by this server"


class UnsupportedMediaType(ApiError):
    status = 415
    code = ErrorCode.UNSUPPORTED_MEDIA_TYPE
    title = "Unsupported media type"


class TooManyMutations(ApiError):
    status = 413
    code = ErrorCode.TOO_MANY_MUTATIONS
    title = "Too many mutations in one request"


class BodyTooLarge(ApiError):
    status = 413
    code = ErrorCode.BODY_TOO_LARGE
    title = "Request body too large"


class TokenMissing(ApiError):
    status = 401
    code = ErrorCode.TOKEN_MISSING
    title = "Bearer token missing"


class TokenInvalid(ApiError):
    status = 401
    code = ErrorCode.TOKEN_INVALID
    title = "Bearer token invalid"


class TokenExpired(ApiError):
    status = 401
    code = ErrorCode.TOKEN_EXPIRED
    title = "Bearer token expired"


class DeviceMismatch(ApiError):
    status = 403
    code = ErrorCode.DEVICE_MISMATCH
    title = "Request names another device"


class RefreshInvalid(ApiError):
    status = 401
    code = ErrorCode.REFRESH_INVALID
    title = "Refresh token invalid"


class RefreshReused(ApiError):
    status = 401
    code = ErrorCode.REFRESH_REUSED
    title = "Refresh token reused; the device's tokens are revoked"


class AdminUnauthorized(ApiError):
    status = 401
    code = ErrorCode.ADMIN_UNAUTHORIZED
    title = "Admin token missing or wrong"


class LoginFailed(ApiError):
    """One answer for every refused login, so it never tells whether the account exists."""

    status = 401
    code = ErrorCode.LOGIN_FAILED
    title = "Login failed"


class RoleForbidden(ApiError):
    status = 403
    code = ErrorCode.ROLE_FORBIDDEN
    title = "The operator's role does not allow this"


class CsrfFailed(ApiError):
    status = 403
    code = ErrorCode.CSRF_FAILED
    title = "Missing or wrong X-CSRF-Token"


class OriginRefused(ApiError):
    status = 403
    code = ErrorCode.ORIGIN_REFUSED
    title = "Request from another origin"


class RateLimited(ApiError):
    """Over a rate limit (:mod:`cloud.ratelimit`): come back after ``retry_after_s`` (``Retry-After``)."""

    status = 429
    code = ErrorCode.RATE_LIMITED
    title = "Too many requests"

    def __init__(self, detail: str | None = None, retry_after_s: int = 1) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class NotFound(ApiError):
    status = 404
    code = ErrorCode.NOT_FOUND
    title = "Not found"


class Unavailable(ApiError):
    status = 503
    code = ErrorCode.UNAVAILABLE
    title = "Service unavailable"

    def __init__(self, detail: str | None = None, retry_after_s: int = 5) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class LimiterUnavailable(Unavailable):
    """The rate limiter cannot reach Redis: ``503`` with ``Retry-After``, never ``401``/``403``, which a
    device would take for the loss of its identity."""

    title = "Rate limiter unavailable"
