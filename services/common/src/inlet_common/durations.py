"""Durations and times as people type them and as inlet writes them (CLI and console): 250ms,
90s, 10m, 1h30m, 2d (the same form in and out); times in ISO 8601, or a duration meaning "ago"."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|[smhd])")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_WRITTEN = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
EXAMPLES = "90s, 10m, 1h30m or 2d"


def parse_duration(text: str) -> timedelta:
    """'10m' → 10 minutes; a bare number is seconds. ValueError naming the text otherwise."""
    cleaned = text.strip().lower()
    if cleaned.isdigit():
        return timedelta(seconds=int(cleaned))
    parts = _PART.findall(cleaned)
    if not parts or "".join(n + u for n, u in parts) != cleaned:
        raise ValueError(f"{text!r} is not a duration such as {EXAMPLES}")
    return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))


def format_duration(seconds: float) -> str:
    """The one written form: 60 → '1m', 90 → '1m30s', 86400 → '1d', 0.25 → '250ms'."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms" if seconds > 0 else "0s"
    whole = int(seconds)
    written = []
    for unit, size in _WRITTEN:
        count, whole = divmod(whole, size)
        if count:
            written.append(f"{count}{unit}")
    fraction = round((seconds - int(seconds)) * 1000)
    if fraction:
        written.append(f"{fraction}ms")
    return "".join(written)


def parse_time(text: str, now: datetime | None = None) -> datetime:
    """An ISO 8601 time (UTC when no offset), or a duration meaning that long ago."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        try:
            return (now or datetime.now(UTC)) - parse_duration(text)
        except ValueError:
            raise ValueError(f"{text!r} is neither an ISO 8601 time nor a duration") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
