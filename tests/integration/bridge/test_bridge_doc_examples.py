"""Every bridge call docs/mobile-integration.md shows (``json bridge-call`` blocks) runs, in order,
against a live server, and answers exactly the reply the page shows after it (``json
bridge-reply``); ``${name}`` stands for a value of this run."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mobile_bridge import Bridge
from tests.integration.bridge.test_bridge_live import PROFILE, NativeHost
from tests.support.live_server import LiveServer

DOC = Path(__file__).resolve().parents[3] / "docs" / "mobile-integration.md"
BLOCK = re.compile(r"^```json (bridge-call|bridge-reply)\n(.*?)\n```$", re.MULTILINE | re.DOTALL)
PLACEHOLDER = re.compile(r"^\$\{(\w+)\}$")


def examples() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    blocks = [(kind, json.loads(body)) for kind, body in BLOCK.findall(DOC.read_text(encoding="utf-8"))]
    pairs = []
    for (kind, call), (next_kind, reply) in zip(blocks[::2], blocks[1::2], strict=True):
        assert (kind, next_kind) == ("bridge-call", "bridge-reply"), "each call is followed by its reply"
        pairs.append((call, reply))
    return pairs


def bind(value: Any, values: dict[str, Any]) -> Any:
    if isinstance(value, str) and (match := PLACEHOLDER.match(value)):
        return values[match.group(1)]
    if isinstance(value, dict):
        return {k: bind(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [bind(v, values) for v in value]
    return value


@pytest.fixture(scope="module")
def server(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with LiveServer(tmp_path_factory.mktemp("bridge-doc-cloud"), redis_url) as live:
        yield live


def test_the_page_shows_a_whole_session() -> None:
    methods = [call["method"] for call, _ in examples()]
    assert methods[0] == "open" and methods[-1] == "close" and len(methods) >= 10


def test_every_call_on_the_page_answers_what_the_page_shows(server: LiveServer, tmp_path: Path) -> None:
    user_id = server.create_user()
    assert server.admin.post(f"/v1/admin/users/{user_id}/profile", json=PROFILE).status_code == 200
    now = int(time.time() * 1000)
    terms = {"new_limit_cents": 150_000, "rate_bps": 1_790, "expires_at": now + 86_400_000}
    created = server.admin.post(f"/v1/admin/users/{user_id}/offers", json=terms)
    assert created.status_code == 201, created.text
    values: dict[str, Any] = {
        "dataDir": str(tmp_path / "app"),
        "serverUrl": server.base_url,
        "enrollmentCode": server.enrollment_code(user_id),
        "offerId": created.json()["offer"]["offer_id"],
        "expiresAt": terms["expires_at"],
        "t0": now - 600_000,
        "t1": now - 599_000,
        "t2": now - 598_900,
    }
    bridge = Bridge()
    bridge.set_inference_host(NativeHost())
    for call, shown in examples():
        reply = json.loads(bridge.call(call["method"], json.dumps(bind(call["arguments"], values))))
        if call["method"] == "enroll" and reply["ok"]:
            values["deviceId"] = reply["result"]["deviceId"]
        expected = bind(shown, values)
        assert reply == expected, (
            f"{call['method']}: got {json.dumps(reply)}, the page shows {json.dumps(expected)}"
        )
