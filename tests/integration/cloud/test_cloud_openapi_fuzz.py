"""Schemathesis against a live server, from the document it serves: every operation gets cases that
fit the document (positive) and cases that break it (negative), and every answer must be no 5xx,
a documented status, the documented media type and a body of the documented schema.

The sync endpoint refuses a bad mutation on its own inside a ``200`` reply (spec §5.3), which is
what its document says, so those cases conform. Its positive cases name the enrolled device and
the supported protocol, so they reach the store instead of stopping at ``device_mismatch``.

Cases are generated from a fixed seed (``FUZZ_SEED`` replays another; ``FUZZ_CASES`` sets the
number per operation and mode); a failure lists every distinct finding with the curl command that
reproduces it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import msgspec
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, reject, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from cloud.constants import DASHBOARD_API_PATH, OPENAPI_JSON_PATH, SYNC_PATH
from sync.limits import PROTOCOL_VERSION
from sync.messages import TokenPair
from tests.support.databases import Databases
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.engines("sqlite", "postgres")

CASES: Final = int(os.environ.get("FUZZ_CASES", "25"))
SEED: Final = int(os.environ.get("FUZZ_SEED", "20261206"))
CHECKS: Final = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
DASHBOARD_STREAM_PATH: Final = f"{DASHBOARD_API_PATH}/stream"
MODES: Final = {
    "positive": schemathesis.GenerationMode.POSITIVE,
    "negative": schemathesis.GenerationMode.NEGATIVE,
}


@schemathesis.serializer("application/msgpack")
def _msgpack(_: Any, value: Any) -> dict[str, bytes]:
    try:
        return {"data": msgspec.msgpack.encode(value)}
    except OverflowError:  # an integer msgpack cannot carry: a JSON-only case
        reject()


@schemathesis.deserializer("application/msgpack")
def _unmsgpack(_: Any, response: Any) -> Any:
    return msgspec.msgpack.decode(response.content)


@pytest.fixture(scope="module")
def server(
    engine: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory, databases: Databases
) -> Iterator[LiveServer]:
    # A server of its own: the fuzzer creates users, codes and notices the shared servers' tests
    # should not see.
    url = databases.url(engine)
    folder: Path = tmp_path_factory.mktemp("fuzz")
    with LiveServer(folder, redis_url, env={} if url is None else {"DATABASE_URL": url}) as live:
        yield live


def _auth(operation: Any, server: LiveServer, device: TokenPair) -> dict[str, str]:
    schemes = {name for requirement in operation.definition.raw.get("security") or [] for name in requirement}
    if "adminBearer" in schemes:
        return {"Authorization": f"Bearer {server.admin_token}"}
    if "deviceBearer" in schemes:
        return {"Authorization": f"Bearer {device.access_token}"}
    return {}


def _fuzz(operation: Any, mode: str, server: LiveServer, device: TokenPair) -> tuple[int, list[str]]:
    """Run the cases of one operation in one mode: (how many, the distinct findings)."""
    findings: dict[str, str] = {}
    count = 0
    headers = _auth(operation, server, device)

    @seed(SEED)
    @settings(
        max_examples=CASES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=MODES[mode]))
    def run(case: Any) -> None:
        nonlocal count
        count += 1
        if mode == "positive" and operation.path == SYNC_PATH and isinstance(case.body, dict):
            case.body["device_id"] = device.device_id
            case.body["protocol"] = PROTOCOL_VERSION
        response = case.call(base_url=server.base_url, headers=headers, timeout=10)
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as exc:
            first = str(exc).split("Reproduce with", 1)[0].strip().splitlines()
            key = " / ".join(line.strip() for line in first if line.strip().startswith("-"))
            findings.setdefault(key or first[0], f"{case.as_curl_command()} -> {response.status_code}")

    try:
        run()
    except Unsatisfiable:
        # Nothing to break in an operation without parameters or body (the health probes).
        assert mode == "negative", f"{operation.label}: no positive case could be generated"
    return count, [f"{operation.label} [{mode}] {key}: {example}" for key, example in findings.items()]


def test_the_served_document_holds_for_generated_requests(server: LiveServer) -> None:
    device = server.new_device()
    schema = schemathesis.openapi.from_url(server.base_url + OPENAPI_JSON_PATH)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 33, [op.label for op in operations]
    # The dashboard's event stream never ends, so a case would wait out its timeout for the whole
    # body; its refusals are tested in test_cloud_dashboard.py.
    operations = [op for op in operations if op.path != DASHBOARD_STREAM_PATH]
    total = 0
    findings: list[str] = []
    for operation in operations:
        for mode in MODES:
            count, found = _fuzz(operation, mode, server, device)
            total += count
            findings.extend(found)
    print(f"fuzzed {len(operations)} operations with {total} cases (seed {SEED})")
    assert not findings, "\n".join(findings)
    assert total >= len(operations) * CASES, total
