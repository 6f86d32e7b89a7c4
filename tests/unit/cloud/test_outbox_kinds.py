"""The outbox's kinds: each has its payload and its job, and a payload is read only as its kind's."""

from __future__ import annotations

import pytest

from cloud.outbox.kinds import (
    PAYLOADS,
    ApplyOfferPayload,
    EvaluateCreditPayload,
    OutboxKind,
    OutboxPayloadInvalid,
    decode_payload,
    encode_payload,
)
from cloud.push.messages import PushPayload
from cloud.workers.main import FUNCTIONS, JOBS


def test_every_kind_has_a_payload_and_a_job_named_after_it() -> None:
    assert set(PAYLOADS) == set(OutboxKind) == set(JOBS)
    for kind, job in JOBS.items():
        assert job.__name__ == kind.value
    registered = {getattr(f, "__name__", None) for f in FUNCTIONS}
    assert {k.value for k in OutboxKind} <= registered


@pytest.mark.parametrize(
    ("kind", "payload"),
    [
        (OutboxKind.APPLY_OFFER, ApplyOfferPayload("off_1")),
        (OutboxKind.EVALUATE_CREDIT, EvaluateCreditPayload("eval_1")),
        (OutboxKind.SEND_PUSH, PushPayload(user_id="usr_1", notice_id="n1", title="t", body="b")),
    ],
)
def test_payloads_round_trip(kind: OutboxKind, payload: object) -> None:
    data = encode_payload(payload)  # type: ignore[arg-type]
    assert decode_payload(7, kind.value, data, type(payload)) == payload  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "data", "expected", "message"),
    [
        ("apply_offer", b'{"offer_id": 5}', ApplyOfferPayload, "outbox row 7: Expected `str`"),
        ("apply_offer", b"{nope", ApplyOfferPayload, "outbox row 7: JSON is malformed"),
        ("apply_offer", b"{}", ApplyOfferPayload, "missing required field `offer_id`"),
        (
            "send_push",
            b'{"user_id": "u"}',
            ApplyOfferPayload,
            "outbox row 7 is a send_push, not a ApplyOfferPayload",
        ),
        ("launch_rockets", b"{}", ApplyOfferPayload, "unknown kind 'launch_rockets'"),
    ],
)
def test_a_payload_that_is_not_its_kinds_is_a_named_error(
    kind: str, data: bytes, expected: type, message: str
) -> None:
    with pytest.raises(OutboxPayloadInvalid, match=message.replace("`", ".")):
        decode_payload(7, kind, data, expected)
