"""Secret tokens: random, shown once, stored as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets

ENDPOINT_PREFIX = "iep_"


def new_endpoint_token() -> str:
    # 32 random bytes: a hash of it cannot be brute-forced, so SHA-256 (not a slow KDF)
    # is the right verifier and keeps the lookup a single index probe.
    return ENDPOINT_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
