"""Reading the console's form and filter fields; a bad one is a FormError naming it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from google.protobuf import duration_pb2, timestamp_pb2

from inlet_common.durations import EXAMPLES, parse_duration


class FormError(ValueError):
    """A field that cannot be read: its label and why."""

    def __init__(self, label: str, message: str) -> None:
        super().__init__(f"{label}: {message}")
        self.label = label
        self.message = message


def optional_int(value: str | None, label: str, *, minimum: int, maximum: int) -> int | None:
    text = (value or "").strip()
    if not text:
        return None
    if not text.isdigit():
        raise FormError(label, f"a whole number from {minimum} to {maximum}, got {text!r}")
    number = int(text)
    if not minimum <= number <= maximum:
        raise FormError(label, f"a whole number from {minimum} to {maximum}, got {number}")
    return number


def optional_time(value: str | None, label: str) -> timestamp_pb2.Timestamp | None:
    """A time as a date-time input sends it (2026-12-01T15:21) or ISO 8601; UTC when it
    has no offset."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise FormError(label, f"a time such as 2026-12-01T15:21 (UTC), got {text!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(when.astimezone(UTC))
    return stamp


def optional_duration(value: str | None, label: str) -> duration_pb2.Duration | None:
    text = (value or "").strip()
    if not text or text == "0":
        return None
    try:
        length = parse_duration(text)
    except ValueError:
        raise FormError(label, f"a duration such as {EXAMPLES}, got {text!r}") from None
    if length <= timedelta(0):
        return None
    made = duration_pb2.Duration()
    made.FromTimedelta(length)
    return made


def input_time(stamp: timestamp_pb2.Timestamp | None) -> str:
    """The value a date-time input shows for `stamp` (UTC, minutes)."""
    if stamp is None:
        return ""
    return str(stamp.ToDatetime(tzinfo=UTC).strftime("%Y-%m-%dT%H:%M"))
