"""No input crosses the bridge as an exception: every method, driven with malformed JSON, wrong
types, missing and unknown fields, answers a reply with a named error code and changes nothing."""

from __future__ import annotations

import json
import random
import threading
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest

from edge_sdk.errors import NotEnrolled
from mobile_bridge import METHODS, Bridge
from mobile_bridge.errors import BridgeCode, sdk_code

MALFORMED: list[Any] = [
    "{",
    "[1, 2]",
    '"text"',
    "42",
    "true",
    b"\xff\xfe",
    42,
    4.5,
    ["x"],
    {"a": 1},
    object(),
]
WRONG = [[[]]]
"""A value no argument accepts: every field is a scalar, an object, or a list of objects."""


def reply(bridge: Bridge, method: object, args: object = None) -> dict[str, Any]:
    text = bridge.call(method, args)
    assert isinstance(text, str)
    parsed = json.loads(text)
    assert set(parsed) == ({"ok", "result"} if parsed["ok"] else {"ok", "error"}), parsed
    if not parsed["ok"]:
        assert set(parsed["error"]) == {"code", "message", "details"}
        assert parsed["error"]["message"]
    return parsed


def error_code(bridge: Bridge, method: object, args: object = None) -> str:
    parsed = reply(bridge, method, args)
    assert parsed["ok"] is False, parsed
    return str(parsed["error"]["code"])


def fields_of(method: str) -> list[msgspec.structs.FieldInfo]:
    return list(msgspec.structs.fields(METHODS[method].args))


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("args", MALFORMED, ids=repr)
def test_malformed_arguments_are_refused_by_name(method: str, args: object) -> None:
    bridge = Bridge()
    code = error_code(bridge, method, args)
    # A JSON object with an unknown field is invalid arguments; what is not a JSON object at all
    # is invalid JSON (or invalid arguments when it parses to the wrong kind of value).
    assert code in {BridgeCode.INVALID_JSON, BridgeCode.INVALID_ARGUMENTS}


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_field_of_the_wrong_type_is_named(method: str) -> None:
    bridge = Bridge()
    for field in fields_of(method):
        parsed = reply(bridge, method, json.dumps({field.encode_name: WRONG}))
        assert parsed["error"]["code"] == BridgeCode.INVALID_ARGUMENTS
        assert field.encode_name in parsed["error"]["details"]["path"], parsed


@pytest.mark.parametrize("method", sorted(m for m in METHODS if any(f.required for f in fields_of(m))))
def test_missing_fields_are_refused(method: str) -> None:
    assert error_code(Bridge(), method, "{}") == BridgeCode.INVALID_ARGUMENTS


@pytest.mark.parametrize("method", sorted(METHODS))
def test_unknown_fields_are_refused_not_ignored(method: str) -> None:
    parsed = reply(Bridge(), method, json.dumps({"seed": 7}))
    assert parsed["error"]["code"] == BridgeCode.INVALID_ARGUMENTS
    assert "seed" in parsed["error"]["message"]


@pytest.mark.parametrize("method", [None, 7, "", "Open", "sync ", "nope", ["open"]])
def test_an_unknown_method_is_not_implemented(method: object) -> None:
    assert error_code(Bridge(), method, "{}") == BridgeCode.NOT_IMPLEMENTED


@pytest.mark.parametrize("method", sorted(set(METHODS) - {"open", "close"}))
def test_every_method_before_open_answers_not_open(method: str) -> None:
    required = {
        "enroll": {"code": "c"},
        "grantConsent": {"scope": "inference"},
        "revokeConsent": {"scope": "inference"},
        "record": {"events": []},
        "acceptOffer": {"offerId": "o"},
        "declineOffer": {"offerId": "o"},
        "ackNotice": {"noticeId": "n"},
        "requestReview": {"offerId": "o"},
        "updatePushToken": {"token": "t"},
        "handlePush": {"data": {"type": "sync"}},
    }
    assert error_code(Bridge(), method, json.dumps(required.get(method, {}))) == BridgeCode.NOT_OPEN


def test_close_before_open_is_harmless() -> None:
    assert reply(Bridge(), "close") == {"ok": True, "result": None}


def open_args(tmp_path: Path, **extra: Any) -> str:
    return json.dumps({"dataDir": str(tmp_path / "app"), "serverUrl": "http://127.0.0.1:9", **extra})


def test_open_twice_and_a_host_inference_without_a_hook(tmp_path: Path) -> None:
    bridge = Bridge()
    assert error_code(bridge, "open", open_args(tmp_path, inference="host")) == BridgeCode.NO_INFERENCE_HOST
    opened = reply(bridge, "open", open_args(tmp_path))
    assert opened == {"ok": True, "result": {"enrolled": False, "deviceId": None}}
    assert error_code(bridge, "open", open_args(tmp_path)) == BridgeCode.ALREADY_OPEN
    assert reply(bridge, "close")["ok"] is True
    assert error_code(bridge, "status") == BridgeCode.NOT_OPEN


@pytest.mark.parametrize(
    "bad",
    [
        {"serverUrl": "ftp://example.com"},
        {"dataDir": ""},
        {"inference": "gpu"},
        {"inferenceTimeoutS": 0},
        {"networkTimeoutS": -1},
        {"platform": "windows"},
    ],
)
def test_open_refuses_bad_settings_and_opens_nothing(tmp_path: Path, bad: dict[str, Any]) -> None:
    bridge = Bridge()
    args = {"dataDir": str(tmp_path / "app"), "serverUrl": "http://127.0.0.1:9", **bad}
    assert error_code(bridge, "open", json.dumps(args)) == BridgeCode.INVALID_ARGUMENTS
    assert not (tmp_path / "app").exists()
    assert error_code(bridge, "status") == BridgeCode.NOT_OPEN


def test_sdk_errors_answer_their_class_name(tmp_path: Path) -> None:
    bridge = Bridge()
    reply(bridge, "open", open_args(tmp_path))
    assert error_code(bridge, "sync") == sdk_code(NotEnrolled()) == "not_enrolled"
    reply(bridge, "grantConsent", json.dumps({"scope": "inference"}))
    # A key released before it was pressed: the SDK's named capture error, and nothing kept.
    bad = {"events": [{"type": "key", "downMs": 2_000, "upMs": 1_000, "keyClass": "character"}]}
    parsed = reply(bridge, "record", json.dumps(bad))
    assert parsed["error"]["code"] == "key_up_before_down"
    status = reply(bridge, "status")["result"]
    assert status["enrolled"] is False and status["pending"] == 1  # only the consent
    reply(bridge, "close")


def test_a_failing_event_sink_does_not_fail_the_call(tmp_path: Path) -> None:
    bridge = Bridge()

    def sink(event: str) -> None:
        raise RuntimeError("the host's sink is broken")

    bridge.set_event_sink(sink)
    reply(bridge, "open", open_args(tmp_path))
    bridge._emit("offersChanged")  # what sync does after a change: logged, not raised
    assert reply(bridge, "status")["ok"] is True
    reply(bridge, "close")


@pytest.mark.parametrize(
    "extra", [{}, {"seed": 7}, {"random": 0.5}, {"privacy": {"random": 1}}, {"rngSeed": "7"}]
)
def test_no_payload_reaches_the_randomized_response(tmp_path: Path, extra: dict[str, Any]) -> None:
    """The randomized response draws from the OS (``secrets``) for every bridge a host opens; only
    a Python caller (the fleet simulator) can hand the bridge a random source of its own."""
    bridge = Bridge()
    parsed = reply(bridge, "open", open_args(tmp_path, **extra))
    if extra:
        assert parsed["error"]["code"] == BridgeCode.INVALID_ARGUMENTS
        assert error_code(bridge, "status") == BridgeCode.NOT_OPEN
        return
    with bridge.client() as client:
        assert client.privacy_settings.random is None  # randbelow_of(None) is secrets.randbelow
    reply(bridge, "close")
    seeded = random.Random(7)
    python_side = Bridge(random=seeded)
    reply(python_side, "open", open_args(tmp_path))
    with python_side.client() as client:
        assert client.privacy_settings.random is seeded
    reply(python_side, "close")


def test_open_arguments_hold_nothing_that_could_seed() -> None:
    names = {f.encode_name for f in msgspec.structs.fields(METHODS["open"].args)}
    assert names == {
        "dataDir",
        "serverUrl",
        "platform",
        "appVersion",
        "locale",
        "inference",
        "inferenceTimeoutS",
        "networkTimeoutS",
        "releasePublicKey",
    }
    # No method's arguments name a random source anywhere.
    for entry in METHODS.values():
        for field in msgspec.structs.fields(entry.args):
            assert not any(word in field.name for word in ("seed", "random", "rng"))


@pytest.mark.parametrize(
    "text",
    [
        '{"events": [' + '{"a": ' * 100_000 + "1" + "}" * 100_000 + "]}",
        '{"events": [' + "[" * 100_000 + "]" * 100_000 + "]}",
        '{"code": "\ud800"}',  # a lone surrogate in a Python str: no UTF-8 can carry it
    ],
    ids=["deep-objects", "deep-lists", "lone-surrogate"],
)
def test_arguments_no_decoder_can_take_are_named(text: str) -> None:
    for method in ("record", "enroll"):
        assert error_code(Bridge(), method, text) in {BridgeCode.INVALID_JSON, BridgeCode.INVALID_ARGUMENTS}


def test_a_data_dir_that_is_not_a_folder_is_refused(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("x")
    bridge = Bridge()
    for data_dir in (str(a_file), str(a_file / "below"), "nul\u0000byte"):
        args = json.dumps({"dataDir": data_dir, "serverUrl": "http://127.0.0.1:9"})
        parsed = reply(bridge, "open", args)
        assert parsed["error"]["code"] == BridgeCode.INVALID_ARGUMENTS, parsed
        assert parsed["error"]["details"] == {"path": "$.dataDir"}
        assert error_code(bridge, "status") == BridgeCode.NOT_OPEN
    assert reply(bridge, "open", open_args(tmp_path))["ok"] is True  # nothing was left half open
    reply(bridge, "close")


def test_two_closes_while_a_call_is_in_flight(tmp_path: Path) -> None:
    bridge = Bridge()
    reply(bridge, "open", open_args(tmp_path))
    replies: list[str] = []
    with bridge.client():
        closers = [threading.Thread(target=lambda: replies.append(bridge.call("close"))) for _ in range(2)]
        for closer in closers:
            closer.start()
        time.sleep(0.2)
        # Both wait for (or leave to the other) the call in flight; meanwhile no new call starts.
        assert error_code(bridge, "status") == BridgeCode.NOT_OPEN
    for closer in closers:
        closer.join(10)
    assert [json.loads(r) for r in replies] == [{"ok": True, "result": None}] * 2
    assert reply(bridge, "open", open_args(tmp_path))["ok"] is True
    reply(bridge, "close")


def test_a_server_url_without_a_host_is_refused(tmp_path: Path) -> None:
    for url in ("http://", "https:///path", "http:// spaced"):
        args = json.dumps({"dataDir": str(tmp_path / "app"), "serverUrl": url})
        assert error_code(Bridge(), "open", args) == BridgeCode.INVALID_ARGUMENTS
