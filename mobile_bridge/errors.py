"""Every failure a host can get back, as ``{"ok": false, "error": {"code", "message", "details"}}``.

The bridge's own codes are :class:`BridgeCode`. A failure the SDK names (an
:class:`~edge_sdk.errors.EdgeError` subclass) answers that class's name in snake_case
(``NotEnrolled`` → ``not_enrolled``, ``InvalidTimestamp`` → ``invalid_timestamp``), so the host
can tell every SDK error apart without a second table to keep in step.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from edge_sdk.errors import EdgeError


class BridgeCode(StrEnum):
    NOT_IMPLEMENTED = "not_implemented"
    INVALID_JSON = "invalid_json"
    INVALID_ARGUMENTS = "invalid_arguments"
    NOT_OPEN = "not_open"
    ALREADY_OPEN = "already_open"
    NO_INFERENCE_HOST = "no_inference_host"
    HOST_INFERENCE_TIMEOUT = "host_inference_timeout"
    PENDING_MONEY_ACTIONS = "pending_money_actions"
    INTERNAL_ERROR = "internal_error"


MEANINGS: dict[BridgeCode, str] = {
    BridgeCode.NOT_IMPLEMENTED: "No method of that name (Flutter's `notImplemented()`).",
    BridgeCode.INVALID_JSON: "The arguments are not a JSON string of an object (or `null` for no arguments).",
    BridgeCode.INVALID_ARGUMENTS: "A field is missing, unknown, of the wrong type or out of range;"
    " `details.path` names it.",
    BridgeCode.NOT_OPEN: "`open` first (or again after `close`).",
    BridgeCode.ALREADY_OPEN: "`open` on an open bridge.",
    BridgeCode.NO_INFERENCE_HOST: "`open` asked for `inference: host` before the host registered its hook.",
    BridgeCode.HOST_INFERENCE_TIMEOUT: "The host's inference hook did not answer within `inferenceTimeoutS`;"
    " the events stay buffered.",
    BridgeCode.PENDING_MONEY_ACTIONS: "`eraseLocalData` refused: accepted offers could not be delivered;"
    " `details.offerIds` lists them.",
    BridgeCode.INTERNAL_ERROR: "A fault of the SDK itself (a bug); nothing the host passed caused it.",
}
"""What each code means, for the host's developers (rendered into the docs)."""


class BridgeError(Exception):
    """A refusal of the bridge itself, answered with its :class:`BridgeCode`."""

    def __init__(self, code: BridgeCode, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}


class HostInferenceTimeout(BridgeError):
    """The host's inference hook did not answer in time (the SDK sees it as a failed inference)."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(
            BridgeCode.HOST_INFERENCE_TIMEOUT,
            f"the host's inference hook did not answer within {timeout_s:g} s",
            {"timeoutS": timeout_s},
        )


_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def sdk_code(exc: EdgeError) -> str:
    """The code of an SDK error: its class name in snake_case."""
    return _CAMEL_BOUNDARY.sub("_", type(exc).__name__).lower()


def sdk_details(exc: EdgeError) -> dict[str, Any]:
    """The fields an SDK error carries for the host (the cloud's code, an HTTP status, ...)."""
    details: dict[str, Any] = {}
    for name, key in (("code", "code"), ("status", "status"), ("detail", "detail"), ("last_seq", "lastSeq"),
                      ("reason", "reason")):  # fmt: skip
        value = getattr(exc, name, None)
        if isinstance(value, str | int) and not isinstance(value, bool):
            details[key] = value
    return details
