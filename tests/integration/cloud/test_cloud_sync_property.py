"""Whatever a device pushes, a slot with a readable seq is processed and one without is refused.

Hypothesis builds mutations from every wire type, then breaks them with hostile values (integers
outside 64 bits, huge floats, wrong types, unknown fields, strings where maps belong …), in both
media types, and pushes each to a real server (spec §5 steps 3 and 6, §5.3):

- a map whose ``seq`` is an integer equal to ``last_seq + 1``, nested within the limit → ``200``,
  a result for that seq, and ``last_seq`` advances (a mutation that used to make the digest raise
  answered 500 on every retry, so the device's outbox was blocked for good);
- a slot with no readable seq → ``400 invalid_body`` and nothing changes.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync.codec import MediaType
from sync.codes import ErrorCode
from sync.messages import TokenPair
from tests.support.live_server import LiveServer, post_sync
from tests.unit.cloud.digest_corpus import HOSTILE_VALUES, JSON_ONLY_TEXT, VALID

_MARK = "@@raw-json-number@@"

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
hostile = st.sampled_from(HOSTILE_VALUES) | json_values


@st.composite
def slots(draw: st.DrawFn) -> tuple[dict[str, Any], bytes | None]:
    """A mutation map (from a wire type, then broken) and an optional raw JSON number for one field."""
    tree: dict[str, Any] = msgspec.to_builtins(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(0, 3))):
        field = draw(st.sampled_from([*tree, "zz_unknown", "type"]))
        if field == "seq":
            continue
        if draw(st.booleans()):
            tree[field] = draw(hostile)
        else:
            tree.pop(field, None)
    raw_number = None
    if draw(st.booleans()):
        field = draw(st.sampled_from(["created_at", "offer_id", "window_bucket", "zz_unknown"]))
        tree[field] = _MARK
        raw_number = draw(st.sampled_from(JSON_ONLY_TEXT))
    return tree, raw_number


def _body(tokens: TokenPair, slot: Any, raw_number: bytes | None, media: MediaType) -> bytes | None:
    """The request, or ``None`` when ``media`` cannot carry the raw number (msgpack has no big ints)."""
    request = {
        "type": "SyncRequest",
        "protocol": 1,
        "device_id": tokens.device_id,
        "device_time": 1_717_243_200_000,
        "push": [slot],
        "pull_limit": 0,
    }
    if raw_number is None:
        return msgspec.json.encode(request) if media is MediaType.JSON else msgspec.msgpack.encode(request)
    if media is MediaType.MSGPACK:
        return None
    return msgspec.json.encode(request).replace(msgspec.json.encode(_MARK), raw_number)


def _last_seq(server: LiveServer, tokens: TokenPair) -> int:
    last_seq: int = server.device(tokens.device_id, tokens.user_id)["last_seq"]
    return last_seq


def _decode(response: Any, media: MediaType) -> Any:
    return (
        msgspec.json.decode(response.content)
        if media is MediaType.JSON
        else msgspec.msgpack.decode(response.content)
    )


@pytest.fixture(scope="module")
def device(live_server: LiveServer) -> TokenPair:
    return live_server.new_device()


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(slot=slots(), media=st.sampled_from(list(MediaType)))
def test_a_readable_seq_is_always_processed(
    live_server: LiveServer, device: TokenPair, slot: tuple[dict[str, Any], bytes | None], media: MediaType
) -> None:
    tree, raw_number = slot
    before = _last_seq(live_server, device)
    tree["seq"] = before + 1
    body = _body(device, tree, raw_number, media)
    if body is None:
        return
    response = post_sync(live_server, device.access_token, body, media)
    assert response.status_code == 200, response.text
    reply = _decode(response, media)
    assert [r["seq"] for r in reply["results"]] == [before + 1]
    assert reply["results"][0]["status"] in ("applied", "rejected")
    assert reply["last_seq"] == before + 1 == _last_seq(live_server, device)
    # Resending the same bytes (a lost reply) is answered again, never 500 or a conflict.
    again = post_sync(live_server, device.access_token, body, media)
    assert again.status_code == 200, again.text
    assert _decode(again, media)["last_seq"] == before + 1


NO_SEQ: list[Any] = [
    "seq",
    None,
    0,
    -1,
    2**53 + 1,
    1.0,
    "1",
    True,
    [1],
    {"seq": 1},
]


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    slot=slots(),
    seq=st.sampled_from(NO_SEQ) | st.sampled_from(HOSTILE_VALUES),
    not_a_map=st.booleans(),
    media=st.sampled_from(list(MediaType)),
)
def test_a_slot_without_a_readable_seq_is_400_and_changes_nothing(
    live_server: LiveServer,
    device: TokenPair,
    slot: tuple[dict[str, Any], bytes | None],
    seq: Any,
    not_a_map: bool,
    media: MediaType,
) -> None:
    tree, raw_number = slot
    before = live_server.user_view(device.user_id)
    if not_a_map:
        value: Any = [tree] if isinstance(seq, str) else seq
        raw_number = None
    elif seq == "seq":
        tree.pop("seq", None)
        value = tree
    else:
        if isinstance(seq, int) and not isinstance(seq, bool) and 1 <= seq <= 2**53:
            seq = -seq  # a readable seq is the other test's business
        tree["seq"] = seq
        value = tree
    body = _body(device, value, raw_number, media)
    if body is None:
        return
    response = post_sync(live_server, device.access_token, body, media)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == ErrorCode.INVALID_BODY
    assert live_server.user_view(device.user_id) == before
