"""The outbox's kinds and the payload each kind's rows carry.

A row's ``kind`` names the job that does its work (the arq function of the same name); its
``payload`` is the msgspec JSON of the kind's Struct. Rows are written by the transaction scripts
(:func:`cloud.store.scripts.outbox_rows.insert_outbox`) and read back with :func:`decode_payload`,
which names the row when the payload is not its kind's.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, TypeVar

import msgspec

from cloud.push.messages import PushPayload


class OutboxKind(StrEnum):
    APPLY_OFFER = "apply_offer"
    """Apply an accepted offer to the credit profile, once (:class:`ApplyOfferPayload`)."""
    EVALUATE_CREDIT = "evaluate_credit"
    """Run one credit evaluation and record it (:class:`EvaluateCreditPayload`)."""
    SEND_PUSH = "send_push"
    """Push a notice or a sync ping to every active token of one user (:class:`PushPayload`)."""


APPLY_OFFER: Final = OutboxKind.APPLY_OFFER
EVALUATE_CREDIT: Final = OutboxKind.EVALUATE_CREDIT
SEND_PUSH: Final = OutboxKind.SEND_PUSH


class ApplyOfferPayload(msgspec.Struct, frozen=True):
    offer_id: str


class EvaluateCreditPayload(msgspec.Struct, frozen=True):
    evaluation_id: str


PAYLOADS: Final[dict[OutboxKind, type[msgspec.Struct]]] = {
    OutboxKind.APPLY_OFFER: ApplyOfferPayload,
    OutboxKind.EVALUATE_CREDIT: EvaluateCreditPayload,
    OutboxKind.SEND_PUSH: PushPayload,
}

_encoder: Final = msgspec.json.Encoder()

P = TypeVar("P", bound=msgspec.Struct)


class OutboxPayloadInvalid(ValueError):
    """A row's payload is not the payload of its kind (or the kind is unknown)."""


def encode_payload(payload: ApplyOfferPayload | EvaluateCreditPayload | PushPayload) -> bytes:
    return _encoder.encode(payload)


def decode_payload(outbox_id: int, kind: str, data: bytes, expected: type[P]) -> P:
    """The payload of row ``outbox_id``, which must be a row of the kind whose payload is ``expected``."""
    try:
        declared = PAYLOADS[OutboxKind(kind)]
    except ValueError:
        raise OutboxPayloadInvalid(f"outbox row {outbox_id}: unknown kind {kind!r}") from None
    if declared is not expected:
        raise OutboxPayloadInvalid(f"outbox row {outbox_id} is a {kind}, not a {expected.__name__} row")
    try:
        return msgspec.json.decode(data, type=expected)
    except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
        raise OutboxPayloadInvalid(f"outbox row {outbox_id}: {exc}") from exc
