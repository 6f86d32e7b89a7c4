"""Reading sync/ wire bodies by ``Content-Type`` and answering in the same media type."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from litestar import Request, Response

from cloud.errors import BodyTooLarge, InvalidBody, UnsupportedMediaType, ValidationFailed
from sync.codec import CodecError, MediaType, check_nesting, encode, media_type_of
from sync.limits import MAX_BODY_BYTES

T = TypeVar("T")


def request_media(request: Request[Any, Any, Any]) -> MediaType:
    """The request's media type; ``UnsupportedMediaType`` unless msgpack or JSON."""
    media = media_type_of(request.headers.get("content-type"))
    if media is None:
        raise UnsupportedMediaType("send application/msgpack or application/json")
    return media


async def read_body(request: Request[Any, Any, Any]) -> bytes:
    """The whole body; Litestar stops reading past ``request_max_body_size`` (answered 413)."""
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise BodyTooLarge(f"at most {MAX_BODY_BYTES} bytes")
    return body


def wire_response(message: msgspec.Struct, media: MediaType, status_code: int = 200) -> Response[bytes]:
    return Response(encode(message, media), status_code=status_code, media_type=media.value)


def decode_json_body(raw: bytes, body_type: type[T], *, optional: bool = False) -> T:
    """Decode an admin JSON body strictly: ``1500.0`` is refused, not read as ``1500``.

    Litestar's own body conversion is lax (an integral float passes as an int) and answers bytes
    that are not JSON as ``validation_failed``; here every admin body gets the same answers: not
    JSON, or nested deeper than the protocol's limit, is ``invalid_body``; JSON of the wrong shape
    ``validation_failed``. Money is integer cents, and a float amount is a client bug to report,
    not to round. With ``optional`` (every field has a default) an empty body reads as ``{}``.
    """
    if optional and not raw.strip():
        raw = b"{}"
    try:
        check_nesting(raw, MediaType.JSON)
    except CodecError as exc:
        raise InvalidBody(str(exc)) from exc
    try:
        return msgspec.json.decode(raw, type=body_type)
    except msgspec.ValidationError as exc:
        raise ValidationFailed(str(exc)) from exc
    except msgspec.DecodeError as exc:
        raise InvalidBody(str(exc)) from exc
