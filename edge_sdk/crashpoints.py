"""Named crash points between the local steps of a sync, enroll and token refresh.

In production :func:`crashpoint` does nothing. The chaos harness installs a hook with
:func:`set_crash_hook` that raises :class:`SimulatedCrash` at a chosen point, then reopens the
SQLite file with a new client, exactly as if the process had died there.

The local steps of one ``sync()`` exchange, and the points between them:

1. read a push batch from the outbox (read only)
   -- ``before-send`` --
2. send the request (the cloud may commit; nothing local changes)
   -- ``after-push-before-ack`` --
3. transaction: rollback check, delete acknowledged outbox rows, record rejections, apply the
   pulled changes, save ``last_seq``, skew and the new cursor (one transaction, per the protocol)
   -- ``after-apply-before-next`` -- (then back to 1 for the next exchange, or on to 4)
4. transaction: record the attempt's outcome (success: clear backoff, ``last_sync_at``)
   -- ``after-failure-before-backoff`` -- sits between a failed send and saving the backoff.

Token refresh: (a) send ``POST /v1/devices/token`` -- ``after-refresh-before-store`` -- (b)
transaction: store the new pair -- ``after-refresh-store`` -- (c) resend the request.
A point before (a) is ``before-send`` of the request that got the 401.

Enrollment: (a) send ``POST /v1/devices/enroll`` -- ``after-enroll-before-store`` -- (b)
transaction: store identity and tokens.

Re-enrollment after a rollback or a lost identity: (a) send the enrollment --
``after-reenroll-before-store`` -- (b) transaction: new identity, outbox renumbered, cursor and
mirror reset -- ``after-reenroll-before-resync`` -- (c) the sync starts again under the new
identity.

Nine points in all; :data:`CRASHPOINTS` lists them and the chaos harness enumerates it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

CRASHPOINTS: Final[tuple[str, ...]] = (
    "before-send",
    "after-push-before-ack",
    "after-apply-before-next",
    "after-failure-before-backoff",
    "after-refresh-before-store",
    "after-refresh-store",
    "after-enroll-before-store",
    "after-reenroll-before-store",
    "after-reenroll-before-resync",
)
"""Every crash point name, in the order a sync meets them."""

_KNOWN: Final = frozenset(CRASHPOINTS)

CrashHook = Callable[[str], None]

_hook: CrashHook | None = None


class SimulatedCrash(BaseException):
    """Raised by a test hook to stand for the process dying at a crash point.

    A ``BaseException`` so that no ``except Exception`` on the way up can swallow it, just as
    nothing survives a real crash.
    """

    def __init__(self, point: str) -> None:
        super().__init__(f"simulated crash at {point!r}")
        self.point = point


def set_crash_hook(hook: CrashHook | None) -> None:
    """Install (or with ``None`` remove) the hook called at every crash point with its name."""
    global _hook
    _hook = hook


def crashpoint(name: str) -> None:
    """Mark a point between two local steps; calls the test hook if one is installed."""
    if name not in _KNOWN:
        # A typo would silently make a point untestable; fail loudly instead.
        raise ValueError(f"unknown crash point {name!r}")
    hook = _hook
    if hook is not None:
        hook(name)
