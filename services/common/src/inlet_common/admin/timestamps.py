"""google.protobuf.Timestamp ↔ aware UTC datetimes, the same way on every admin API."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf import message, timestamp_pb2


def timestamp(when: datetime | None) -> timestamp_pb2.Timestamp | None:
    """The Timestamp of `when` (None stays unset); a naive time is read as UTC."""
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(when.astimezone(UTC))
    return stamp


def optional_time(request: message.Message, field: str) -> datetime | None:
    """The aware UTC time of the request's Timestamp `field`, None when it is not set."""
    if not request.HasField(field):
        return None
    stamp: timestamp_pb2.Timestamp = getattr(request, field)
    return stamp.ToDatetime(tzinfo=UTC)
