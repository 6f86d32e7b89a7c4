"""Encrypted backups and restores of the cloud's database: ``python -m cloud.backup`` (``ecs backup``
and ``ecs restore`` run it on the database's host).

- ``keygen --out KEY``: a new backup key (256 bits, base64) in a new owner-only file.
- ``create --out FILE --key-file KEY``: a consistent copy of the live database
  (:mod:`cloud.store.backup`), sealed with the key (:mod:`cloud.sealed`). The key file may not be in
  the backup's folder: a backup and its key are never kept together.
- ``restore FILE --key-file KEY``: into an empty data folder (SQLite) or an empty database
  (PostgreSQL), as ``DATA_DIR`` / ``DATABASE_URL`` name it. The restored store starts a new epoch
  (every cursor issued before is refused, spec §5.5), and the rights journal's consent
  revocations and erasures recorded since the backup are replayed (:mod:`cloud.journal`). SQLite:
  every step runs on the copy before one rename puts it in place. PostgreSQL: the copy is restored
  in one transaction, then the epoch starts first; if a later step fails, ``--resume`` runs the
  steps again. A restore refuses to run without a journal unless ``--no-journal`` says none exists.

Each command prints one JSON document on standard output; a failure prints its reason on standard
error and exits 1 (2 for a wrong command line).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import msgspec

from cloud.clock import now_ms
from cloud.journal import RightsJournal
from cloud.sealed import SealError, load_key, new_key, read_meta, seal_file, unseal_file
from cloud.settings import DatabaseSettings, Settings, load_settings
from cloud.store import open_store
from cloud.store.backup import (
    BackupFailed,
    check_engine,
    check_sqlite_copy,
    check_sqlite_target,
    dump,
    load_postgres,
    place_sqlite,
)
from cloud.store.errors import ErasureBlocked, UserNotFound
from sync.messages import ConsentScope

FORMAT: Final = 1
JOURNAL_MARGIN_MS: Final = 60_000
"""Journal events this long before the backup are replayed too: the copy takes time, and replaying
an event the backup holds changes nothing."""
RESTORE_ACTOR: Final = "restore"
SCOPES: Final = frozenset(scope.value for scope in ConsentScope)


class CommandFailed(Exception):
    """The command cannot do what was asked; the message says why and nothing was changed."""


def _key(path: Path) -> bytes:
    try:
        return load_key(path.read_text(encoding="ascii"))
    except OSError as exc:
        raise CommandFailed(f"cannot read the key file {path}: {exc.strerror}") from None
    except (SealError, UnicodeDecodeError) as exc:
        raise CommandFailed(f"{path}: {exc}") from None


def keygen(out: Path) -> dict[str, Any]:
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise CommandFailed(f"{out} exists: a backup key is never overwritten") from None
    except OSError as exc:
        raise CommandFailed(f"cannot create {out}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(new_key() + "\n")
    return {"key_file": str(out)}


async def _epoch(settings: Settings) -> str:
    store = await open_store(settings.database)
    try:
        return await store.epoch()
    finally:
        await store.close()


def create(settings: Settings, out: Path, key_file: Path) -> dict[str, Any]:
    if key_file.resolve().parent == out.resolve().parent:
        raise CommandFailed("the key file is in the backup's folder: keep the key elsewhere")
    key = _key(key_file)
    if out.exists():
        raise CommandFailed(f"{out} exists: a backup is never overwritten")
    started = time.monotonic()
    taken_at = now_ms()
    epoch = asyncio.run(_epoch(settings))
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".backup-", dir=out.parent) as scratch:
        copy = Path(scratch) / "database"
        engine = dump(settings.database, copy)
        size = copy.stat().st_size
        sealed = Path(scratch) / "sealed"
        meta = {"format": FORMAT, "engine": engine, "taken_at": taken_at, "epoch": epoch}
        seal_file(copy, sealed, key, meta)
        sealed.rename(out)
    return {
        "file": str(out),
        "engine": engine,
        "taken_at": taken_at,
        "database_bytes": size,
        "backup_bytes": out.stat().st_size,
        "seconds": round(time.monotonic() - started, 3),
    }


async def _finish(database: DatabaseSettings, journal: RightsJournal, taken_at: int) -> dict[str, Any]:
    """Migrate, start a new epoch, replay the journal; the restore's report. Each step may run
    again: a new epoch is as good as the one before, and a replayed event changes nothing twice."""
    store = await open_store(database)
    try:
        migrated = await store.migrate()
        epoch = secrets.token_hex(8)
        now = now_ms()
        # First, before anything can fail: the copy never serves a cursor of before the backup.
        await store.begin_epoch(epoch, backup_at=taken_at, now=now)
        consents: Counter[str] = Counter()
        erasures: Counter[str] = Counter()
        blocked: list[str] = []
        for event in journal.read(taken_at - JOURNAL_MARGIN_MS):
            if event.kind == "consent_revoked":
                if event.scope not in SCOPES:
                    consents["unknown_scope"] += 1  # written by a newer build: left to it
                    continue
                outcome = await store.replay_revocation(
                    event.user_id, event.device_id, event.scope, at=event.at, now=now
                )
                consents[outcome] += 1
            else:
                try:
                    done = await store.erase_user(event.user_id, actor=RESTORE_ACTOR, address=None, now=now)
                except UserNotFound:
                    erasures["unknown_user"] += 1
                except ErasureBlocked:
                    erasures["blocked"] += 1
                    blocked.append(event.user_id)
                else:
                    erasures["already_erased" if done.already_erased else "applied"] += 1
        return {
            "epoch": epoch,
            "migrations_applied": migrated,
            "revocations_replayed": dict(consents),
            "erasures_replayed": dict(erasures),
            "erasures_blocked": blocked,
        }
    finally:
        await store.close()


def _meta(source: Path) -> dict[str, Any]:
    try:
        with source.open("rb") as f:
            meta, _ = read_meta(f)
    except OSError as exc:
        raise CommandFailed(f"cannot read {source}: {exc.strerror}") from None
    except SealError as exc:
        raise CommandFailed(f"{source}: {exc}") from None
    if meta.get("format") != FORMAT:
        raise CommandFailed(f"{source} is a backup of format {meta.get('format')}; this build reads {FORMAT}")
    return meta


def restore(
    settings: Settings, source: Path, key_file: Path, *, resume: bool = False, no_journal: bool = False
) -> dict[str, Any]:
    """Restore ``source``; see the module docstring. ``resume``: the copy is in place already (a
    PostgreSQL restore whose last steps failed): only run them again."""
    key = _key(key_file)
    started = time.monotonic()
    meta = _meta(source)
    journal = RightsJournal(settings.rights_journal_dir)
    if not journal.files() and not no_journal:
        raise CommandFailed(
            f"no rights journal in {settings.rights_journal_dir}: set RIGHTS_JOURNAL_DIR to the folder the"
            " API wrote it to (by default DATA_DIR/journal of the lost data folder), or pass --no-journal"
            " if none was ever written"
        )
    database = settings.database
    try:
        check_engine(database, str(meta["engine"]))
        taken_at = int(meta["taken_at"])
        if resume:
            report = asyncio.run(_finish(database, journal, taken_at))
        elif database.is_sqlite:
            check_sqlite_target(database.sqlite_path)
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(prefix=".restore-", dir=settings.data_dir) as scratch:
                copy = Path(scratch) / "cloud.sqlite3"
                _unseal(source, copy, key)
                check_sqlite_copy(copy)
                # Every step on the copy, then one rename: a failure leaves the folder empty.
                report = asyncio.run(_finish(DatabaseSettings(f"sqlite:///{copy}"), journal, taken_at))
                place_sqlite(copy, database.sqlite_path)
        else:
            with tempfile.TemporaryDirectory(prefix="ec-restore-") as scratch:
                copy = Path(scratch) / "database"
                _unseal(source, copy, key)
                load_postgres(copy, database.url)
            try:
                report = asyncio.run(_finish(database, journal, taken_at))
            except Exception as exc:
                raise CommandFailed(
                    f"the database is restored but not finished ({type(exc).__name__}: {exc}); fix the"
                    " cause and run the restore again with --resume before starting the servers"
                ) from exc
    except BackupFailed as exc:
        raise CommandFailed(str(exc)) from None
    return {
        "engine": meta["engine"],
        "backup_taken_at": meta["taken_at"],
        **report,
        "seconds": round(time.monotonic() - started, 3),
    }


def _unseal(source: Path, copy: Path, key: bytes) -> None:
    try:
        unseal_file(source, copy, key)
    except OSError as exc:
        raise CommandFailed(f"cannot read {source}: {exc.strerror}") from None
    except SealError as exc:
        raise CommandFailed(f"{source}: {exc}") from None


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m cloud.backup", description=__doc__.splitlines()[0] if __doc__ else None
    )
    commands = root.add_subparsers(dest="command", required=True)
    sub = commands.add_parser("keygen", help="a new backup key in a new file")
    sub.add_argument("--out", type=Path, required=True)
    sub = commands.add_parser("create", help="an encrypted backup of the live database")
    sub.add_argument("--out", type=Path, required=True)
    sub.add_argument("--key-file", type=Path, required=True)
    sub = commands.add_parser("restore", help="a backup into an empty data folder or database")
    sub.add_argument("file", type=Path)
    sub.add_argument("--key-file", type=Path, required=True)
    sub.add_argument("--resume", action="store_true", help="the copy is in place: run the last steps again")
    sub.add_argument("--no-journal", action="store_true", help="restore although no rights journal is found")
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "keygen":
            report = keygen(args.out)
        else:
            settings = load_settings()
            if args.command == "create":
                report = create(settings, args.out, args.key_file)
            else:
                report = restore(
                    settings, args.file, args.key_file, resume=args.resume, no_journal=args.no_journal
                )
    except (CommandFailed, BackupFailed) as exc:
        print(f"{args.command}: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(msgspec.json.encode(report).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
