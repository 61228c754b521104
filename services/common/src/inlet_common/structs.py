"""google.protobuf.Struct ↔ plain JSON values, keeping integers integers."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format, struct_pb2


def plain(value: Any) -> Any:
    """Struct numbers are doubles; integral ones come back as int (50000, not 50000.0)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def to_dict(struct: struct_pb2.Struct) -> dict[str, Any]:
    result = plain(json_format.MessageToDict(struct))
    assert isinstance(result, dict)
    return result


def to_struct(values: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(values)
    return struct
