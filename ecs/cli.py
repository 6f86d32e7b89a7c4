"""ecs: one command for the people and scripts around Empathic Credit.

Conventions every subcommand follows:

- ``ecs [--json] <subcommand> [options]``; ``ecs <subcommand> --help`` says the rest.
- For people: progress bars while it works and tables when it is done, on standard error and
  standard output. With ``--json``: no progress, and exactly one JSON document on standard
  output, for scripts.
- Exit codes (:class:`Exit`): 0 done; 1 the command ran and failed (the cloud refused or did not
  answer; the message says why); 2 the command line or a setting is wrong.
- Settings that name a deployment come from options first, then from the environment
  (``ECS_SERVER_URL``, ``ADMIN_TOKEN``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from enum import IntEnum
from pathlib import Path

import msgspec
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ecs.backups import add_backup_commands
from ecs.fleet import FleetConfig, FleetError, FleetSummary, simulate
from ecs.models import add_model_commands
from ecs.operator import AdminClient, OperatorError, add_commands


class Exit(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2


DEFAULT_SERVER_URL = "http://127.0.0.1:8000"


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not 1 or more")
    return value


def _deployment() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--server", default=None, help=f"the cloud's URL (ECS_SERVER_URL, else {DEFAULT_SERVER_URL})"
    )
    common.add_argument("--admin-token", default=None, help="the admin API's token (ADMIN_TOKEN)")
    return common


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="ecs", description=__doc__.splitlines()[0] if __doc__ else None)
    root.add_argument("--json", action="store_true", help="one JSON document on stdout, no progress")
    commands = root.add_subparsers(dest="command", required=True, metavar="<subcommand>")
    add_commands(commands, _deployment())
    add_model_commands(commands, _deployment())
    add_backup_commands(commands)
    sim = commands.add_parser(
        "simulate",
        help="simulated phones living simulated days against a running cloud",
        description="N simulated phones live the D days ending now through the mobile bridge, against a"
        " running cloud (make run starts one): enrollment, capture, scoring, daily releases, offline"
        " days, app restarts, push pings, offers seen and accepted, applied by the worker.",
    )
    sim.add_argument("--devices", type=_positive, default=10, help="phones (default 10)")
    sim.add_argument("--days", type=_positive, default=30, help="days, ending today (default 30)")
    sim.add_argument("--seed", type=int, default=7, help="random seed; same seed, same fleet (default 7)")
    sim.add_argument("--evaluate-every", type=_positive, default=7, help="days between evaluation rounds")
    sim.add_argument(
        "--server", default=None, help=f"the cloud's URL (ECS_SERVER_URL, else {DEFAULT_SERVER_URL})"
    )
    sim.add_argument("--admin-token", default=None, help="the admin API's token (ADMIN_TOKEN)")
    sim.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="where the phones' stores go (default: a temporary folder)",
    )
    return root


def summary_table(summary: FleetSummary) -> Table:
    table = Table(title=f"{summary.devices} phones, {summary.days} days, {summary.seconds:g} s")
    table.add_column("what")
    table.add_column("count", justify="right")
    personas = ", ".join(f"{name} {n}" for name, n in sorted(summary.personas.items()))
    rows = [
        ("personas", personas),
        ("events recorded", f"{summary.events:,}"),
        ("activity windows scored", f"{summary.windows:,}"),
        ("daily aggregates released", f"{summary.aggregates_released:,}"),
        ("daily aggregates the cloud holds", f"{summary.aggregates_synced:,}"),
        ("ε spent (all phones)", f"{summary.epsilon_spent:g}"),
        ("offline days", f"{summary.offline_days:,}"),
        ("app restarts", f"{summary.restarts:,}"),
        ("evaluations requested", f"{summary.evaluations:,}"),
        ("offers seen / accepted (offline) / applied",
         f"{summary.offers_seen} / {summary.offers_accepted} ({summary.offers_accepted_offline})"
         f" / {summary.offers_applied}"),
        ("notices received", f"{summary.notices:,}"),
        ("push pings handled", f"{summary.pushes:,}"),
        ("sync requests (other requests)", f"{summary.sync_requests:,} ({summary.other_requests:,})"),
        ("bytes up / down (bodies)", f"{summary.bytes_up:,} / {summary.bytes_down:,}"),
    ]  # fmt: skip
    for what, value in rows:
        table.add_row(what, value)
    return table


def _simulate(args: argparse.Namespace, console: Console) -> Exit:
    token = args.admin_token or os.environ.get("ADMIN_TOKEN")
    if not token:
        console.print("ecs simulate: the admin token is needed (--admin-token or ADMIN_TOKEN)", style="red")
        return Exit.USAGE
    server = args.server or os.environ.get("ECS_SERVER_URL") or DEFAULT_SERVER_URL
    with tempfile.TemporaryDirectory(prefix="ecs-fleet-") as scratch:
        config = FleetConfig(
            server_url=server.rstrip("/"),
            admin_token=token,
            data_dir=args.data_dir or Path(scratch),
            devices=args.devices,
            days=args.days,
            seed=args.seed,
            evaluate_every=args.evaluate_every,
        )
        try:
            if args.json:
                summary = simulate(config)
            else:
                with Progress(
                    TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=Console(stderr=True), transient=True,
                ) as bar:  # fmt: skip
                    tasks: dict[str, int] = {}

                    def progress(what: str, done: int, total: int) -> None:
                        if what not in tasks:
                            tasks[what] = int(bar.add_task(what, total=total))
                        bar.update(tasks[what], completed=done)  # type: ignore[arg-type]

                    summary = simulate(config, progress)
        except FleetError as exc:
            console.print(f"ecs simulate: {exc}", style="red", markup=False, highlight=False)
            return Exit.FAILED
    if args.json:
        sys.stdout.write(msgspec.json.encode(summary).decode() + "\n")
    else:
        console.print(summary_table(summary))
    return Exit.OK


def _operate(args: argparse.Namespace, console: Console) -> Exit:
    # Offline commands (ecs models keygen, sign) have no --server or --admin-token.
    token = getattr(args, "admin_token", None) or os.environ.get("ADMIN_TOKEN") or ""
    what = f"ecs {args.command}" + (f" {args.action}" if getattr(args, "action", None) else "")
    if not token and not getattr(args, "no_token", False):
        console.print(f"{what}: the admin token is needed (--admin-token or ADMIN_TOKEN)", style="red")
        return Exit.USAGE
    server = getattr(args, "server", None) or os.environ.get("ECS_SERVER_URL") or DEFAULT_SERVER_URL
    client = AdminClient(server, token)
    try:
        document, tables = args.run(client, args)
    except OperatorError as exc:
        console.print(f"{what}: {exc}", style="red", markup=False, highlight=False)
        return Exit.FAILED
    finally:
        client.close()
    if args.json:
        sys.stdout.write(msgspec.json.encode(document).decode() + "\n")
    else:
        for shown in tables:
            console.print(shown)
    # The doctor's verdict is its exit code, for scripts and make targets.
    return Exit.FAILED if isinstance(document, dict) and document.get("ok") is False else Exit.OK


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)  # exits 2 on a wrong command line
    console = Console(stderr=args.json)
    if args.command == "simulate":
        return int(_simulate(args, console))
    return int(_operate(args, console))


if __name__ == "__main__":
    sys.exit(main())
