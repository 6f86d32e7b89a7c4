"""Every error answer as ``application/problem+json`` with a stable ``code`` and the request id.

Handlers cover our named exceptions (:mod:`cloud.errors`) and the ones Litestar raises itself
(unknown route, wrong method, body over ``request_max_body_size``, failed parameter or body
validation), so a client never sees another error shape.
"""

from __future__ import annotations

import logging
from typing import Any, Final

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.types import ExceptionHandlersMap

from cloud.constants import RETRY_AFTER_HEADER
from cloud.domain.admin.paging import PageCursorInvalid
from cloud.domain.credit.refusals import CreditFeaturesMissing, EvaluationNotFound, OpenOfferExists
from cloud.domain.offers.errors import (
    InvalidOfferTerms,
    OfferClosed,
    OfferNotFound,
    OutboxNotRetryable,
    OutboxRowNotFound,
    ProfileMissing,
)
from cloud.domain.releases.errors import ReleaseInvalid
from cloud.domain_errors import DomainError
from cloud.errors import ApiError, UnsupportedProtocol
from cloud.request_context import current_request_id
from cloud.store.errors import (
    BootstrapClosed,
    CursorAhead,
    DeviceNotFound,
    DeviceRevoked,
    EnrollmentCodeExpired,
    EnrollmentCodeInvalid,
    EnrollmentCodeUsed,
    ErasureBlocked,
    LastAdmin,
    OperatorExists,
    OperatorNotFound,
    ReleaseExists,
    ReleaseNotFound,
    ReplacesDeviceInvalid,
    ReviewAlreadyClosed,
    ReviewNotFound,
    RolloutNarrowed,
    SeqConflict,
    ServiceKeyNotFound,
    StoreUnavailable,
    TextNotStorable,
    UserErased,
    UserNotFound,
)
from sync.codec import PROBLEM_JSON
from sync.codes import ErrorCode
from sync.limits import SUPPORTED_PROTOCOLS
from sync.messages import Problem

logger = logging.getLogger(__name__)

_encoder: Final = msgspec.json.Encoder()

# Litestar's own exceptions, by status, mapped to our codes.
_HTTP_CODES: Final[dict[int, str]] = {
    400: ErrorCode.VALIDATION_FAILED,
    401: ErrorCode.TOKEN_MISSING,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.BODY_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    429: ErrorCode.RATE_LIMITED,
    503: ErrorCode.UNAVAILABLE,
}


def problem_response(
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    *,
    supported_protocols: list[int] | None = None,
    retry_after_s: int | None = None,
    headers: dict[str, str] | None = None,
) -> Response[bytes]:
    """Build the problem+json answer; ``Retry-After`` goes in a header and the body alike."""
    problem = Problem(
        title=title,
        status=status,
        code=str(code),
        detail=detail,
        request_id=current_request_id(),
        supported_protocols=supported_protocols,
        retry_after_s=retry_after_s,
    )
    out_headers = dict(headers or {})
    if retry_after_s is not None:
        out_headers[RETRY_AFTER_HEADER] = str(retry_after_s)
    return Response(
        _encoder.encode(problem), status_code=status, media_type=PROBLEM_JSON, headers=out_headers
    )


def _log(request: Request[Any, Any, Any], status: int, code: str) -> None:
    # One line per refused request, so an operator can follow a request id from a client report.
    logger.info("%s %s -> %d %s", request.method, request.url.path, status, code)


def _api_error(request: Request[Any, Any, Any], exc: ApiError) -> Response[bytes]:
    _log(request, exc.status, exc.code)
    return problem_response(
        exc.status,
        exc.code,
        exc.title,
        exc.detail,
        supported_protocols=list(SUPPORTED_PROTOCOLS) if isinstance(exc, UnsupportedProtocol) else None,
        retry_after_s=getattr(exc, "retry_after_s", None),
    )


class DomainProblem(msgspec.Struct, frozen=True):
    status: int
    code: ErrorCode
    title: str


DOMAIN_PROBLEMS: Final[dict[type[DomainError], DomainProblem]] = {
    UserNotFound: DomainProblem(404, ErrorCode.NOT_FOUND, "User not found"),
    UserErased: DomainProblem(410, ErrorCode.USER_ERASED, "User was erased"),
    ReviewNotFound: DomainProblem(404, ErrorCode.NOT_FOUND, "Review not found"),
    ReviewAlreadyClosed: DomainProblem(409, ErrorCode.REVIEW_CLOSED, "Review is closed"),
    ErasureBlocked: DomainProblem(409, ErrorCode.OFFER_IN_FLIGHT, "User has an accepted offer in flight"),
    DeviceNotFound: DomainProblem(404, ErrorCode.NOT_FOUND, "Device not found"),
    OfferNotFound: DomainProblem(404, ErrorCode.NOT_FOUND, "Offer not found"),
    OutboxRowNotFound: DomainProblem(404, ErrorCode.NOT_FOUND, "Outbox row not found"),
    EvaluationNotFound: DomainProblem(404, ErrorCode.NOT_FOUND, "Evaluation not found"),
    DeviceRevoked: DomainProblem(403, ErrorCode.DEVICE_REVOKED, "Device revoked"),
    EnrollmentCodeInvalid: DomainProblem(401, ErrorCode.ENROLLMENT_CODE_INVALID, "Enrollment code unknown"),
    EnrollmentCodeExpired: DomainProblem(401, ErrorCode.ENROLLMENT_CODE_EXPIRED, "Enrollment code expired"),
    EnrollmentCodeUsed: DomainProblem(401, ErrorCode.ENROLLMENT_CODE_USED, "Enrollment code already used"),
    ReplacesDeviceInvalid: DomainProblem(
        403, ErrorCode.REPLACES_DEVICE_INVALID, "Replaced device is not the user's"
    ),
    SeqConflict: DomainProblem(
        409, ErrorCode.SEQ_CONFLICT, "Sequence number already used for another mutation"
    ),
    CursorAhead: DomainProblem(400, ErrorCode.INVALID_CURSOR, "Cursor was not issued by this server"),
    PageCursorInvalid: DomainProblem(400, ErrorCode.INVALID_CURSOR, "Cursor was not issued for this list"),
    StoreUnavailable: DomainProblem(503, ErrorCode.UNAVAILABLE, "Service unavailable"),
    ProfileMissing: DomainProblem(400, ErrorCode.VALIDATION_FAILED, "User has no credit profile"),
    InvalidOfferTerms: DomainProblem(400, ErrorCode.VALIDATION_FAILED, "Offer terms are invalid"),
    CreditFeaturesMissing: DomainProblem(400, ErrorCode.VALIDATION_FAILED, "User has no credit features"),
    OfferClosed: DomainProblem(409, ErrorCode.OFFER_CLOSED, "Offer is not open"),
    OutboxNotRetryable: DomainProblem(409, ErrorCode.OUTBOX_NOT_RETRYABLE, "Outbox row cannot be retried"),
    OpenOfferExists: DomainProblem(409, ErrorCode.OFFER_IN_FLIGHT, "User has an offer in flight"),
    OperatorNotFound: DomainProblem(404, ErrorCode.NOT_FOUND, "Operator not found"),
    OperatorExists: DomainProblem(409, ErrorCode.OPERATOR_EXISTS, "Operator exists"),
    BootstrapClosed: DomainProblem(409, ErrorCode.BOOTSTRAP_CLOSED, "The first admin exists"),
    LastAdmin: DomainProblem(409, ErrorCode.LAST_ADMIN, "No admin would be left"),
    ServiceKeyNotFound: DomainProblem(404, ErrorCode.NOT_FOUND, "Service key not found"),
    TextNotStorable: DomainProblem(400, ErrorCode.VALIDATION_FAILED, "Text may not contain NUL characters"),
    ReleaseInvalid: DomainProblem(422, ErrorCode.RELEASE_INVALID, "Release does not match its files"),
    ReleaseExists: DomainProblem(
        409, ErrorCode.RELEASE_EXISTS, "Release number is not above the published ones"
    ),
    ReleaseNotFound: DomainProblem(404, ErrorCode.NOT_FOUND, "Release not found"),
    RolloutNarrowed: DomainProblem(409, ErrorCode.ROLLOUT_NARROWED, "A rollout only widens"),
}
"""How the API answers each failure of the store and the domain (which carry no HTTP status)."""


def domain_problem(exc: DomainError) -> DomainProblem | None:
    """The answer to ``exc``: its class's, or its nearest base's in :data:`DOMAIN_PROBLEMS`."""
    for cls in type(exc).__mro__:
        found = DOMAIN_PROBLEMS.get(cls)
        if found is not None:
            return found
    return None


def _domain_error(request: Request[Any, Any, Any], exc: DomainError) -> Response[bytes]:
    problem = domain_problem(exc)
    if problem is None:
        return _internal(request, exc)
    _log(request, problem.status, problem.code)
    return problem_response(
        problem.status,
        problem.code,
        problem.title,
        exc.detail,
        retry_after_s=getattr(exc, "retry_after_s", None),
    )


def _http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    status = exc.status_code
    code = _HTTP_CODES.get(status, ErrorCode.INTERNAL)
    _log(request, status, code)
    detail = exc.detail
    extra = getattr(exc, "extra", None)
    if status == 400 and extra:
        # Validation errors list which field failed; say so without echoing the value back.
        detail = "; ".join(_field_error(e) for e in extra if isinstance(e, dict)) or detail
    headers = {k: v for k, v in (exc.headers or {}).items() if k.lower() == "allow"}
    return problem_response(status, code, _title(status), detail, headers=headers)


def _field_error(error: dict[str, Any]) -> str:
    if error.get("source") == "body" and error.get("key") == "data":
        # Litestar reports a missing body as a missing ``data`` argument, in those words.
        return "a JSON body is required"
    return f"{error.get('key', '?')}: {error.get('message', '')}"


def _internal(_: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    logger.exception("unhandled error", exc_info=exc)
    return problem_response(500, ErrorCode.INTERNAL, "Internal error")


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


EXCEPTION_HANDLERS: Final[ExceptionHandlersMap] = {
    ApiError: _api_error,
    DomainError: _domain_error,
    HTTPException: _http_exception,
    Exception: _internal,
}


def _api_errors(cls: type[ApiError]) -> list[type[ApiError]]:
    found = [cls]
    for sub in cls.__subclasses__():
        found.extend(_api_errors(sub))
    return found


def codes_by_status() -> dict[int, list[str]]:
    """Every ``(status, code)`` the API can answer, by status, from the mappings above.

    The OpenAPI document's error responses are built from this (:mod:`cloud.api_docs`), so a new
    named error reaches the document without a second edit.
    """
    pairs = {(cls.status, str(cls.code)) for cls in _api_errors(ApiError)}
    pairs |= {(p.status, str(p.code)) for p in DOMAIN_PROBLEMS.values()}
    pairs |= {(status, str(code)) for status, code in _HTTP_CODES.items()}
    out: dict[int, list[str]] = {}
    for status, code in sorted(pairs):
        out.setdefault(status, []).append(code)
    return out
