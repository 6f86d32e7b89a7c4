"""``ecs`` for operator accounts against a real cloud: the first admin, login, accounts, roles,
disable and the auth audit, each what the admin API then says."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ecs.cli import Exit, main
from tests.support.live_server import LiveServer


def ecs(
    server: LiveServer, capsys: pytest.CaptureFixture[str], token: str, *argv: str
) -> tuple[int, Any, str]:
    code = main(["--json", *argv, "--server", server.base_url, "--admin-token", token])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out else None, captured.err


def test_accounts_from_the_command_line(
    tmp_path: Path, redis_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ECS_PASSWORD", "root's long passphrase")
    with LiveServer(tmp_path, redis_url) as server:
        static = server.admin_token
        code, root, _ = ecs(server, capsys, static, "operators", "bootstrap", "--username", "root")
        assert code == Exit.OK and (root["username"], root["role"]) == ("root", "admin")
        code, _, err = ecs(server, capsys, static, "operators", "bootstrap", "--username", "other")
        assert code == Exit.FAILED and "bootstrap_closed" in err

        code, session, _ = main_login(server, capsys, "root")
        assert code == Exit.OK and session["token"].startswith("eco_"), _
        token = session["token"]

        monkeypatch.setenv("ECS_PASSWORD", "ana's long passphrase")
        code, ana, _ = ecs(
            server, capsys, token, "operators", "create", "--username", "ana", "--role", "operator"
        )
        assert code == Exit.OK and ana["role"] == "operator"
        code, changed, _ = ecs(server, capsys, token, "operators", "role", "ana", "viewer")
        assert changed["role"] == "viewer"
        code, ana_session, _ = main_login(server, capsys, "ana")
        code, _, err = ecs(server, capsys, ana_session["token"], "operators", "list")
        assert code == Exit.FAILED and "role_forbidden" in err
        code, disabled, _ = ecs(server, capsys, token, "operators", "disable", "ana")
        assert disabled["disabled"] is True
        code, accounts, _ = ecs(server, capsys, token, "operators", "list")
        assert [(a["username"], a["role"], a["disabled"]) for a in accounts] == [
            ("root", "admin", False),
            ("ana", "viewer", True),
        ]
        device = server.new_device()
        exported = tmp_path / "export.json"
        code, document, _ = ecs(
            server, capsys, token, "users", "export", device.user_id, "--output", str(exported)
        )
        assert code == Exit.OK and document["user"]["user_id"] == device.user_id
        assert json.loads(exported.read_text())["devices"][0]["device_id"] == device.device_id
        code, revoked, _ = ecs(server, capsys, token, "devices", "revoke", device.device_id, "--stolen")
        assert code == Exit.OK and revoked["revoked"] is True

        code, key, _ = ecs(server, capsys, token, "keys", "create", "--name", "lender", "--role", "operator")
        assert code == Exit.OK and key["key"].startswith("eck_")
        code, users, _ = ecs(server, capsys, key["key"], "users", "list")
        assert code == Exit.OK and isinstance(users, list)
        # The lender's backend erases a user with its key; the command wants a confirmation.
        code, _, err = ecs(server, capsys, key["key"], "users", "erase", device.user_id)
        assert code == Exit.FAILED and "--yes" in err
        code, erased, _ = ecs(server, capsys, key["key"], "users", "erase", device.user_id, "--yes")
        assert code == Exit.OK and (erased["already_erased"], erased["devices_to_wipe"]) == (False, 0)
        code, _, _ = ecs(server, capsys, token, "keys", "revoke", key["key_id"])
        code, keys, _ = ecs(server, capsys, token, "keys", "list")
        assert [(k["name"], k["revoked"]) for k in keys] == [("lender", True)]
        code, _, err = ecs(server, capsys, key["key"], "users", "list")
        assert code == Exit.FAILED and "admin_unauthorized" in err

        code, events, _ = ecs(server, capsys, token, "operators", "audit", "--all")
        assert [e["event"] for e in events][:5] == [
            "service_key_revoked",
            "user_erased",
            "service_key_created",
            "user_exported",
            "operator_disabled",
        ]
        assert events[0]["actor"] == "operator:root"
        monkeypatch.setenv("ECS_PASSWORD", "a wrong one")
        code, _, err = main_login(server, capsys, "root")
        assert code == Exit.FAILED and "login_failed" in err


def main_login(server: LiveServer, capsys: pytest.CaptureFixture[str], username: str) -> tuple[int, Any, str]:
    # No admin token: signing in is how an operator gets one.
    code = main(["--json", "login", "--username", username, "--server", server.base_url])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out else None, captured.err
