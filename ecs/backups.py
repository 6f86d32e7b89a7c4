"""``ecs backup``, ``ecs restore`` and ``ecs backup-key``: encrypted backups of the cloud's database.

They run on the database's host, with the cloud's settings in the environment (``DATA_DIR``,
``DATABASE_URL``, ``RIGHTS_JOURNAL_DIR``), by starting ``python -m cloud.backup`` (``ecs`` imports
nothing of the cloud; the ``cloud`` extra must be installed where they run).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import Any

from ecs.operator import AdminClient, OperatorError, Result, table, when


def _run(*argv: str) -> dict[str, Any]:
    done = subprocess.run(  # noqa: S603 (this Python, running the cloud's own module)
        [sys.executable, "-m", "cloud.backup", *argv], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        reason = done.stderr.strip().splitlines()[-1:] or [f"exit code {done.returncode}"]
        raise OperatorError(reason[0])
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def backup_key(client: AdminClient, args: argparse.Namespace) -> Result:
    made = _run("keygen", "--out", args.out)
    shown = table("backup key written: keep it away from the backups", ["key file"], [[made["key_file"]]])
    return made, [shown]


def backup(client: AdminClient, args: argparse.Namespace) -> Result:
    made = _run("create", "--out", args.out, "--key-file", args.key_file)
    rows = [
        ["file", made["file"]],
        ["engine", made["engine"]],
        ["taken at (UTC)", when(made["taken_at"])],
        ["database bytes", f"{made['database_bytes']:,}"],
        ["backup bytes", f"{made['backup_bytes']:,}"],
        ["seconds", f"{made['seconds']:g}"],
    ]
    return made, [table("backup made (encrypted)", ["", ""], rows)]


def restore(client: AdminClient, args: argparse.Namespace) -> Result:
    flags = [flag for flag, on in (("--resume", args.resume), ("--no-journal", args.no_journal)) if on]
    done = _run("restore", args.file, "--key-file", args.key_file, *flags)
    rows = [
        ["engine", done["engine"]],
        ["backup taken at (UTC)", when(done["backup_taken_at"])],
        ["new store epoch", done["epoch"]],
        ["revocations replayed", json.dumps(done["revocations_replayed"])],
        ["erasures replayed", json.dumps(done["erasures_replayed"])],
        ["erasures waiting (run ecs users erase again)", ", ".join(done["erasures_blocked"]) or "none"],
        ["seconds", f"{done['seconds']:g}"],
    ]
    return done, [table("restored: start the API and workers", ["", ""], rows)]


def add_backup_commands(commands: Any) -> None:
    """``ecs backup``, ``ecs restore`` and ``ecs backup-key`` on the root parser's subparsers."""

    def command(name: str, run: Any, help: str) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(run=run, no_token=True, offline=True)
        return sub

    sub = command("backup-key", backup_key, "a new backup key in a new owner-only file")
    sub.add_argument("--out", required=True, help="the key file to create (never overwritten)")
    sub = command("backup", backup, "an encrypted backup of the live database (run on its host)")
    sub.add_argument("--out", required=True, help="the backup file to create")
    sub.add_argument("--key-file", required=True, help="the backup key (not in the backup's folder)")
    sub = command(
        "restore", restore, "a backup into an empty data folder or database; the servers must be stopped"
    )
    sub.add_argument("file")
    sub.add_argument("--key-file", required=True)
    sub.add_argument(
        "--resume", action="store_true", help="PostgreSQL: the copy is in place, run the last steps again"
    )
    sub.add_argument(
        "--no-journal",
        action="store_true",
        help="restore although no rights journal is found (none was written)",
    )
