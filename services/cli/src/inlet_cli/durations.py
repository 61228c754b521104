"""Durations and times as people type them: 10m, 90s, 1h30m, 2d; ISO 8601 or "1h" ago."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """'10m' → 10 minutes; ValueError naming the text when it is not a duration."""
    cleaned = text.strip().lower()
    if cleaned.isdigit():
        return timedelta(seconds=int(cleaned))
    parts = _PART.findall(cleaned)
    if not parts or "".join(n + u for n, u in parts) != cleaned:
        raise ValueError(f"{text!r} is not a duration such as 90s, 10m, 1h30m or 2d")
    return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))


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
