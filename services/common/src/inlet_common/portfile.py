"""Tell a supervisor which port a service bound (port 0 means the OS chose it)."""

from __future__ import annotations

import os
from pathlib import Path


def write_port_file(path: str, port: int) -> None:
    """Write atomically, so a reader polling the file never sees a partial number."""
    target = Path(path)
    partial = target.with_name(target.name + ".partial")
    partial.write_text(str(port))
    os.replace(partial, target)
