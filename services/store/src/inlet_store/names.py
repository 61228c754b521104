"""Resource names (workspaces/{w}/streams/{s}) and timestamps of the admin services."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf import timestamp_pb2

from inlet_common.errors import InvalidArgument, Violation


def parts(field: str, name: str, *collections: str) -> list[str]:
    """The ids of a resource name such as workspaces/{w}/streams/{s}; InvalidArgument
    naming `field` when it has another shape."""
    pieces = name.split("/")
    if len(pieces) != 2 * len(collections) or any(
        pieces[2 * i] != c or not pieces[2 * i + 1] for i, c in enumerate(collections)
    ):
        pattern = "/".join(f"{c}/{{{c[:-1]}}}" for c in collections)
        message = f"{field} must look like {pattern}, got {name!r}"
        raise InvalidArgument(message, violations=[Violation(field, message, "INVALID_NAME")])
    return pieces[1::2]


def timestamp(when: datetime | None) -> timestamp_pb2.Timestamp | None:
    if when is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(when.astimezone(UTC))
    return stamp
