"""What the launcher needs to keep services up: restart backoff and size-bounded logs."""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

# A service that ran this long before exiting is restarted at once again (its crash was
# not a crash loop); quicker exits back off, doubling up to MAX_BACKOFF_SECONDS.
STABLE_SECONDS = 30.0
FIRST_BACKOFF_SECONDS = 0.25
MAX_BACKOFF_SECONDS = 5.0

DEFAULT_LOG_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_LOG_BACKUPS = 3
_CHUNK = 64 * 1024


@dataclass
class Backoff:
    """Delays before restarting one service: short after a crash, doubling in a loop."""

    first: float = FIRST_BACKOFF_SECONDS
    most: float = MAX_BACKOFF_SECONDS
    stable: float = STABLE_SECONDS
    failures: int = 0

    def next_delay(self, ran_seconds: float) -> float:
        if ran_seconds >= self.stable:
            self.failures = 0
        delay = min(self.most, self.first * 2.0**self.failures)
        self.failures += 1
        return delay


@dataclass
class RotatingLog:
    """A log file rotated by size, like logging's RotatingFileHandler (name.log.1 …)."""

    path: Path
    max_bytes: int = DEFAULT_LOG_MAX_BYTES
    backups: int = DEFAULT_LOG_BACKUPS
    _size: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self._size = self.path.stat().st_size if self.path.exists() else 0

    def write(self, data: bytes) -> None:
        """Append whole lines; rotates first when they would pass the size bound."""
        if self._size and self._size + len(data) > self.max_bytes:
            self.rotate()
        with self.path.open("ab") as out:
            out.write(data)
        self._size += len(data)

    def rotate(self) -> None:
        for index in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{index}")
            if older.exists():
                os.replace(older, self.path.with_name(f"{self.path.name}.{index + 1}"))
        if self.backups > 0 and self.path.exists():
            os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        else:
            self.path.unlink(missing_ok=True)
        self._size = 0


async def pump(reader: asyncio.StreamReader, log: RotatingLog) -> None:
    """Copy a child's output into `log` line by line (a line never straddles two files)
    until the child closes it."""
    pending = b""
    while True:
        chunk = await reader.read(_CHUNK)
        if not chunk:
            break
        pending += chunk
        cut = pending.rfind(b"\n") + 1
        if cut:
            await asyncio.to_thread(log.write, pending[:cut])
            pending = pending[cut:]
        elif len(pending) > log.max_bytes:
            await asyncio.to_thread(log.write, pending + b"\n")
            pending = b""
    if pending:
        with contextlib.suppress(OSError):
            log.write(pending + b"\n")
