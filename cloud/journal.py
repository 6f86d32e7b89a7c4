"""The rights journal: consent revocations and erasures, written outside the database.

A restore from a backup brings the database back to the moment of the backup; a user who revoked a
consent or was erased after it must not find the consent granted or their data back. Every API
process appends such an event here once its transaction committed, and a restore replays the
events newer than the backup (:mod:`cloud.backup`). Keep the folder (``RIGHTS_JOURNAL_DIR``) on
other storage than the database, so that losing one does not lose the other.

One JSON object per line, appended with ``O_APPEND`` and synced to disk, to a file per host
(``rights-<host>.jsonl``): the processes of one host never interleave their lines (each is one
``write`` well under a page), and hosts never append to one file over a network file system. The
folder may be shared by the hosts or gathered from them before a restore: a restore reads every
file in it. A line cut by a crash is skipped when read.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Final, Literal

import msgspec

logger = logging.getLogger(__name__)

FILE_PATTERN: Final = "rights-*.jsonl"

EventKind = Literal["consent_revoked", "user_erased"]


class RightsEvent(msgspec.Struct, frozen=True, kw_only=True):
    kind: EventKind
    at: int
    """When it took effect (epoch ms, the server's clock): for a revocation, when the device made
    it, which orders it against other consent changes; it may be days before it reached the server."""
    recorded_at: int
    """When the server committed it (epoch ms): what decides whether a backup holds it."""
    user_id: str
    scope: str | None = None
    """The consent revoked (``consent_revoked``)."""
    device_id: str | None = None
    """The device that sent the revocation (``consent_revoked``)."""


_decoder: Final = msgspec.json.Decoder(RightsEvent)


class RightsJournal:
    """Appends to ``<folder>/rights-<host>.jsonl`` and reads every host's file of the folder."""

    def __init__(self, folder: Path, host: str | None = None) -> None:
        self.folder = folder
        self.path = folder / f"rights-{host or socket.gethostname()}.jsonl"

    def append(self, events: list[RightsEvent]) -> None:
        """Append ``events`` durably (blocking: call it off the event loop). A failure is logged,
        never raised: the change committed, and the journal only matters to a later restore
        (``docs/operations.md``, backup and restore, says what to do then)."""
        if not events:
            return
        data = b"".join(msgspec.json.encode(e) + b"\n" for e in events)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:
            logger.exception("the rights journal %s could not be written: %d events", self.path, len(events))

    def files(self) -> list[Path]:
        """Every host's journal file in the folder."""
        return sorted(self.folder.glob(FILE_PATTERN))

    def read(self, since_ms: int) -> list[RightsEvent]:
        """The events every file holds that the server recorded at or after ``since_ms``, in the
        order they were recorded."""
        events: list[RightsEvent] = []
        for path in self.files():
            for line in path.read_bytes().splitlines():
                try:
                    event = _decoder.decode(line)
                except msgspec.DecodeError:
                    logger.warning("skipped an unreadable line of the rights journal %s", path)
                    continue
                if event.recorded_at >= since_ms:
                    events.append(event)
        return sorted(events, key=lambda e: e.recorded_at)
