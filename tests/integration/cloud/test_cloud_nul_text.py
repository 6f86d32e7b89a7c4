"""PostgreSQL's text cannot hold a NUL character: a body, path or login naming one is refused with
``400 validation_failed`` and changes nothing, never a 500. (SQLite stores NUL like any other
character, so the module runs on PostgreSQL only.)"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sync.codes import ErrorCode
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.engines("postgres")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/admin/login", {"username": "ro\u0000ot", "password": "x"}),
        ("POST", "/v1/admin/users", {"external_ref": "ref\u0000"}),
        ("GET", "/v1/admin/users/usr%00x/export", None),
        ("GET", "/v1/admin/users/usr%00x/view", None),
    ],
    ids=["login", "user-ref", "export-path", "view-path"],
)
def test_a_nul_character_is_refused_not_a_500(
    live_server: LiveServer, method: str, path: str, body: dict[str, Any] | None
) -> None:
    users_before = live_server.admin.get("/v1/admin/users?limit=500").json()["items"]
    reply = httpx.request(
        method,
        live_server.base_url + path,
        json=body,
        headers={"authorization": f"Bearer {live_server.admin_token}"},
        timeout=10.0,
    )
    assert reply.status_code == 400, reply.text
    assert reply.json()["code"] == ErrorCode.VALIDATION_FAILED
    assert live_server.admin.get("/v1/admin/users?limit=500").json()["items"] == users_before
