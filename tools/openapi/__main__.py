"""python -m tools.openapi DESCRIPTOR_SET OUT.json: write the OpenAPI document of the routes.

DESCRIPTOR_SET is a FileDescriptorSet with imports and source info (comments), as
`protoc --include_imports --include_source_info --descriptor_set_out` writes it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from google.protobuf import descriptor_pb2

from tools.openapi.generate import build


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write(__doc__ or "")
        return 2
    source, target = Path(argv[0]), Path(argv[1])
    descriptor_set = descriptor_pb2.FileDescriptorSet.FromString(source.read_bytes())
    document = build(descriptor_set)
    target.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
