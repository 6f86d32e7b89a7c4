"""Backup and restore of a large SQLite store: ``python -m bench.backup [--size-mb N]``.

Builds a store of about N MB (default 1024) under a scratch folder: the schema, then change-log
rows of 4 KiB random bodies (incompressible, as encrypted or msgpack data is), then times
``python -m cloud.backup create`` (the online copy and the sealing) and ``restore`` into an empty
data folder (decrypting, the integrity check, migrations and the new epoch), each a process of its
own as an operator runs it, and prints the sizes, the times and the throughput side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from cloud.settings import DatabaseSettings
from cloud.store import open_store

BODY_BYTES: Final = 4096
BATCH: Final = 2000


async def _schema(path: Path) -> None:
    store = await open_store(DatabaseSettings(f"sqlite:///{path}"))
    try:
        await store.migrate()
    finally:
        await store.close()


def build(path: Path, size_mb: int) -> int:
    """A migrated store of about ``size_mb`` MB; returns its size in bytes."""
    asyncio.run(_schema(path))
    conn = sqlite3.connect(path)
    try:
        conn.execute("INSERT INTO users (user_id, version, created_at) VALUES ('usr_bench', 0, 1)")
        rows = size_mb * 1024 * 1024 // (BODY_BYTES + 64)
        version = 0
        while version < rows:
            batch = [
                ("usr_bench", version + i + 1, "Notice", os.urandom(BODY_BYTES), 1)
                for i in range(min(BATCH, rows - version))
            ]
            conn.executemany(
                "INSERT INTO change_log (user_id, version, type, body, created_at) VALUES (?, ?, ?, ?, ?)",
                batch,
            )
            version += len(batch)
        conn.execute("UPDATE users SET version = ? WHERE user_id = 'usr_bench'", (version,))
        conn.commit()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return path.stat().st_size


def _run(env: dict[str, str], *argv: str) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "cloud.backup", *argv], env=env, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"cloud.backup {argv[0]} failed: {done.stderr.strip()}")
    report: dict[str, Any] = json.loads(done.stdout)
    return elapsed, report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.backup", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size-mb", type=int, default=1024, help="size of the store to back up (default 1024)"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-backup-") as scratch:
        root = Path(scratch)
        live, restored, keys, backups = (root / n for n in ("live", "restored", "keys", "backups"))
        for folder in (live, keys, backups):
            folder.mkdir()
        started = time.perf_counter()
        size = build(live / "cloud.sqlite3", args.size_mb)
        built_s = time.perf_counter() - started
        base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DATA_DIR")}
        key = str(keys / "backup.key")
        _run(base, "keygen", "--out", key)
        backup = str(backups / "cloud.backup")
        backup_s, made = _run({**base, "DATA_DIR": str(live)}, "create", "--out", backup, "--key-file", key)
        # A store that never ran an API has no rights journal to replay.
        restore_s, done = _run(
            {**base, "DATA_DIR": str(restored)}, "restore", backup, "--key-file", key, "--no-journal"
        )
        restored_size = (restored / "cloud.sqlite3").stat().st_size
    mb = size / 1e6
    print(f"store built: {mb:,.0f} MB in {built_s:.1f} s")
    print(f"{'step':<10}{'seconds':>10}{'MB/s':>10}  notes")
    print(
        f"{'backup':<10}{backup_s:>10.1f}{mb / backup_s:>10.0f}"
        f"  sealed file {made['backup_bytes'] / 1e6:,.0f} MB"
    )
    print(
        f"{'restore':<10}{restore_s:>10.1f}{mb / restore_s:>10.0f}  restored {restored_size / 1e6:,.0f} MB,"
        f" epoch {done['epoch']}"
    )
    print(f"restore / backup: {restore_s / backup_s:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
