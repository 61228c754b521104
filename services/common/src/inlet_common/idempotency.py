"""What "the same request body" means for Idempotency-Key, in every dialect."""

from __future__ import annotations

import hashlib
from typing import Any

from inlet_common import exactjson

MAX_KEY_LENGTH = 255


def body_hash(value: Any) -> bytes:
    """SHA-256 of canonical JSON: key order and whitespace do not count, values do."""
    return hashlib.sha256(exactjson.dumps(value, sort_keys=True)).digest()


def key_problem(key: str) -> str | None:
    """Why an Idempotency-Key is refused, or None when it is fine ("" means absent)."""
    if len(key) > MAX_KEY_LENGTH:
        # No count: the edge cuts a longer key to one past the limit before it crosses.
        return f"Idempotency-Key is longer than {MAX_KEY_LENGTH} characters"
    return None
