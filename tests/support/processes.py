"""The cloud runner as a test's child process, and looking at processes by pid on Linux (``/proc``),
for tests that check what is left running."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

START_TIMEOUT_S = 60.0


@dataclass
class Runner:
    """A started ``python -m cloud.runner`` (or ``make run``) whose output is read as it comes."""

    proc: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    lines: list[str] = field(default_factory=list)
    _reader: threading.Thread | None = None

    def start_reading(self) -> None:
        # Read continuously so the children, which share this pipe, never block on a full one.
        def pump() -> None:
            assert self.proc.stdout is not None
            for raw in self.proc.stdout:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))

        self._reader = threading.Thread(target=pump, daemon=True)
        self._reader.start()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, text: str, timeout_s: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return
            if self.proc.poll() is not None:
                time.sleep(0.2)  # let the reader drain what is left
                pytest.fail(f"runner exited with {self.proc.returncode} before {text!r}:\n{self.output}")
            time.sleep(0.05)
        pytest.fail(f"no {text!r} after {timeout_s} s:\n{self.output}")

    def close(self) -> None:
        """After the process and every child sharing its output ended: stop reading, close the pipe."""
        if self._reader is not None:
            self._reader.join(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def finish(self, timeout_s: float = 30.0) -> int:
        code = self.proc.wait(timeout=timeout_s)
        if self._reader is not None:
            self._reader.join(timeout=5)
        return code


def children_of(pid: int) -> list[int]:
    """The direct children of ``pid`` (empty when it is gone)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(p) for p in path.read_text().split()]
    except FileNotFoundError:
        return []


def descendants_of(pid: int) -> list[int]:
    """Children of ``pid``, their children and so on."""
    found: list[int] = []
    todo = children_of(pid)
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(children_of(child))
    return found


def command_line(pid: int) -> list[str]:
    """The arguments ``pid`` was started with (empty when it is gone)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return []
    return [arg.decode(errors="replace") for arg in raw.split(b"\0") if arg]


def alive(pid: int) -> bool:
    """``pid`` exists and is not a zombie (a zombie still answers ``kill(0)``; it is gone for every
    purpose here)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Something accepts TCP connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0
