"""Secret tokens: random, shown once, stored as a SHA-256 hash."""

from __future__ import annotations

import secrets

from inlet_common.credentials import token_hash

__all__ = ["new_admin_token", "new_endpoint_token", "token_hash"]

ENDPOINT_PREFIX = "iep_"
ADMIN_PREFIX = "adm_"


def new_endpoint_token() -> str:
    # 32 random bytes: a hash of it cannot be brute-forced, so SHA-256 (not a slow KDF)
    # is the right verifier and keeps the lookup a single index probe.
    return ENDPOINT_PREFIX + secrets.token_urlsafe(32)


def new_admin_token() -> str:
    # Same reasoning as endpoint tokens: 256 random bits, so SHA-256 is a safe verifier.
    return ADMIN_PREFIX + secrets.token_urlsafe(32)
