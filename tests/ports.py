"""Ports for tests that must know a port before anything listens on it."""

from __future__ import annotations

import contextlib
import random
import socket
from collections.abc import Iterator
from pathlib import Path

_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _ephemeral_low() -> int:
    try:
        return int(_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def fixed_port() -> int:
    """A free port below the kernel's ephemeral range: everything the suite starts binds
    port 0, which the kernel only fills from that range, so none of it can take this port
    while a test has killed its service and not yet started it again."""
    low = _ephemeral_low()
    for _ in range(200):
        port = random.randrange(max(low - 12_000, 1024), low)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port below the ephemeral range")


@contextlib.contextmanager
def dead_port() -> Iterator[int]:
    """A port bound but never listening while the block runs: a connection to it is
    refused, and nothing else can bind it meanwhile."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])
