"""Bearer credentials: parsing the header and the SHA-256 verifier every service stores."""

from __future__ import annotations

import hashlib

from inlet_common.errors import Unauthenticated

_SCHEME = "bearer "


def token_hash(token: str) -> bytes:
    """The stored verifier of a token. Tokens carry 256 random bits, so a plain SHA-256
    (not a slow KDF) cannot be brute-forced and keeps each lookup one index probe."""
    return hashlib.sha256(token.encode()).digest()


def bearer_token(header: str | None, *, what: str = "admin token") -> str:
    """The token of an `Authorization: Bearer <token>` header; Unauthenticated otherwise.

    Error messages name the header and never repeat what was sent.
    """
    if not header:
        raise Unauthenticated(
            f"missing authorization header: 'Bearer <{what}>'", reason="ADMIN_TOKEN_MISSING"
        )
    if header[: len(_SCHEME)].lower() != _SCHEME or not header[len(_SCHEME) :].strip():
        raise Unauthenticated(
            f"the authorization header must be 'Bearer <{what}>'", reason="ADMIN_TOKEN_MALFORMED"
        )
    return header[len(_SCHEME) :].strip()
