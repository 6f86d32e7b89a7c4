"""The rights journal: consent revocations and erasures, written outside the database.

A restore from a backup brings the database back to the moment of the backup; a user who revoked a
consent or was erased after it must not find the consent granted or their data back. Every API
process appends such an event here once its transaction committed, and a restore replays the
events newer than the backup (:mod:`cloud.backup`). Keep the folder (``RIGHTS_JOURNAL_DIR``) on
other storage than the database, so that losing one does not lose the other.

One JSON object per line, appended with ``O_APPEND`` and synced to disk: lines of several processes
never interleave (each is one ``write`` well under a page). A line cut by a crash is skipped when
read.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Final, Literal

import msgspec

logger = logging.getLogger(__name__)

FILE_NAME: Final = "rights.jsonl"

EventKind = Literal["consent_revoked", "user_erased"]


class RightsEvent(msgspec.Struct, frozen=True, kw_only=True):
    kind: EventKind
    at: int
    """When it took effect (epoch ms, the server's clock)."""
    user_id: str
    scope: str | None = None
    """The consent revoked (``consent_revoked``)."""
    device_id: str | None = None
    """The device that sent the revocation (``consent_revoked``)."""


_decoder: Final = msgspec.json.Decoder(RightsEvent)


class RightsJournal:
    """Appends to and reads ``<folder>/rights.jsonl``."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / FILE_NAME

    def append(self, events: list[RightsEvent]) -> None:
        """Append ``events`` durably. A failure is logged, never raised: the change committed, and
        the journal only matters to a later restore (the operations runbook says what to do)."""
        if not events:
            return
        data = b"".join(msgspec.json.encode(e) + b"\n" for e in events)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:
            logger.exception("the rights journal %s could not be written: %d events", self.path, len(events))

    def read(self, since_ms: int) -> Iterator[RightsEvent]:
        """The events at or after ``since_ms``, in the order they were written."""
        try:
            lines = self.path.read_bytes().splitlines()
        except FileNotFoundError:
            return
        for line in lines:
            try:
                event = _decoder.decode(line)
            except msgspec.DecodeError:
                logger.warning("skipped an unreadable line of the rights journal %s", self.path)
                continue
            if event.at >= since_ms:
                yield event
