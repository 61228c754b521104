"""One attempt's result, and the rules read off it: Retry-After, the secrets to sign with."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from inlet_notifier.secrets_at_rest import KeyRing


@dataclass(frozen=True)
class Result:
    """What one attempt got: an HTTP status (0: none), an error, a snippet, Retry-After."""

    status_code: int
    error: str
    snippet: str
    retry_after: float | None
    start_time: datetime
    end_time: datetime
    latency_ms: int
    # Nothing was sent: the endpoint's secret could not be opened here. The operator's
    # key ring is at fault, not the endpoint, so its failure window is left alone.
    key_error: bool = False

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Retry-After as delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def signing_secrets(claim: dict[str, Any], now: datetime, keys: KeyRing) -> list[str]:
    """The clear secrets to sign with (SecretKeyError if one does not open). A previous
    secret past its grace is not opened at all: rotating with no grace recovers an
    endpoint whose old secret was sealed under a key that is gone."""
    endpoint_id = claim["endpoint_id"]
    found = [keys.open(endpoint_id, claim["secret"])]
    until = claim["previous_secret_until"]
    if claim["previous_secret"] and until is not None and until > now:
        found.append(keys.open(endpoint_id, claim["previous_secret"]))
    return found
