"""Adds the HTTP twin services (inlet_common.twindescriptors) to the descriptor set Envoy loads."""

from __future__ import annotations

import sys
from pathlib import Path

from google.protobuf import descriptor_pb2

from inlet_common.twindescriptors import twin_files


def add_twins(path: Path) -> None:
    """Rewrite the descriptor set at `path` with each annotated file's twin appended."""
    found = descriptor_pb2.FileDescriptorSet.FromString(path.read_bytes())
    ours = [f for f in found.file if f.name.startswith("inlet/")]
    found.file.extend(twin_files(ours))
    path.write_bytes(found.SerializeToString(deterministic=True))


if __name__ == "__main__":
    add_twins(Path(sys.argv[1]))
