"""ecs's conventions: exit codes for a wrong command line, a missing setting and a cloud that does
not answer; --json prints one document or nothing."""

from __future__ import annotations

import json

import pytest

from ecs.cli import Exit, main, parser
from tests.support.live_server import free_port


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["nope"],
        ["simulate", "--devices", "0"],
        ["simulate", "--days", "x"],
        ["simulate", "--bogus"],
        ["users"],
        ["users", "nope"],
        ["users", "show"],
        ["offers", "create", "usr_1"],
        ["offers", "create", "usr_1", "--new-limit-cents", "1.5", "--rate-bps", "1"],
        ["offers", "list", "--status", "approved"],
        ["devices", "list", "--state", "gone"],
        ["outbox", "retry", "x"],
        ["doctor", "--bogus"],
    ],
)
def test_a_wrong_command_line_exits_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == Exit.USAGE
    assert capsys.readouterr().out == ""


def test_no_admin_token_exits_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("ADMIN_TOKEN", raising=False)
    assert main(["--json", "simulate", "--devices", "1", "--days", "1"]) == Exit.USAGE
    captured = capsys.readouterr()
    assert captured.out == "" and "admin token" in captured.err


@pytest.mark.parametrize("argv", [["users", "list"], ["doctor"], ["outbox", "stats"]])
def test_operator_commands_need_the_token_and_an_answer(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ADMIN_TOKEN", raising=False)
    assert main(["--json", *argv]) == Exit.USAGE
    assert "admin token" in capsys.readouterr().err
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["--json", *argv, "--server", url, "--admin-token", "t"]) == Exit.FAILED
    captured = capsys.readouterr()
    assert captured.out == "" and "did not answer" in captured.err


def test_a_cloud_that_does_not_answer_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code = main(
        ["--json", "simulate", "--devices", "1", "--days", "1", "--server", url, "--admin-token", "t"]
    )
    assert code == Exit.FAILED
    captured = capsys.readouterr()
    assert captured.out == "" and "did not answer" in captured.err


def test_every_subcommand_has_help() -> None:
    subcommands = parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert set(subcommands) == {
        "simulate",
        "users",
        "devices",
        "offers",
        "evaluations",
        "codes",
        "outbox",
        "doctor",
        "operators",
        "login",
        "keys",
        "models",
        "reviews",
        "backup",
        "backup-key",
        "restore",
    }
    assert all(p.description for p in subcommands.values())
    assert json.dumps([int(e) for e in Exit]) == "[0, 1, 2]"


def test_the_operations_page_states_the_conventions() -> None:
    from pathlib import Path

    page = (Path(__file__).resolve().parents[3] / "docs" / "operations.md").read_text(encoding="utf-8")
    section = page[page.index("## The `ecs` command") : page.index("## Embedded defaults")]
    subcommands = parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert all(f"| `{name}` |" in section for name in subcommands)
    assert all(f"`{int(code)}`" in section for code in Exit)
    assert "ECS_SERVER_URL" in section and "ADMIN_TOKEN" in section and "--json" in section
