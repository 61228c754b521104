"""Stream ingest keys (ik_<mode>_<id>_<secret>) and the errors of stream ingest.

inlet_common.errors.InletError
├── Unauthenticated ── IngestUnauthorized         (401 UNAUTHORIZED)
├── NotFound ── StreamNotFound, RequestNotFound   (404)
├── AlreadyExists ── RequestIdInUse               (409: a direct caller reused an id)
├── InvalidArgument ── InvalidPayload             (400 INVALID_PAYLOAD)
├── ResourceExhausted ── PayloadTooLarge          (413, judged at the edge; logged here)
├── Aborted ── IdempotencyKeyInUse                (409: the first is still being accepted)
└── FailedPrecondition ── LeaseLost               (another worker owns the request now)
(RateLimited, shared with endpoint push, is in guards.py; a stream's Idempotency-Key
repeated with another body is replayed, not refused.)
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from inlet_common.credentials import token_hash
from inlet_common.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Unauthenticated,
)

KEY_MODES = ("live", "test")
_ID_BYTES = 8
_SECRET_BYTES = 32


class IngestUnauthorized(Unauthenticated):
    reason = "UNAUTHORIZED"


class StreamNotFound(NotFound):
    reason = "STREAM_NOT_FOUND"


class RequestNotFound(NotFound):
    reason = "REQUEST_NOT_FOUND"


class RequestIdInUse(AlreadyExists):
    reason = "REQUEST_ID_IN_USE"


class InvalidPayload(InvalidArgument):
    reason = "INVALID_PAYLOAD"


class PayloadTooLarge(ResourceExhausted):
    reason = "PAYLOAD_TOO_LARGE"


class IdempotencyKeyInUse(Aborted):
    reason = "IDEMPOTENCY_KEY_IN_USE"


class LeaseLost(FailedPrecondition):
    reason = "LEASE_LOST"


@dataclass(frozen=True)
class ParsedKey:
    mode: str
    key_id: str
    secret: str


@dataclass(frozen=True)
class NewKey:
    key_id: str
    secret_hash: bytes
    full: str  # shown once


def new_key(mode: str) -> NewKey:
    """A fresh key: a public id for the lookup and a 256-bit secret kept only as a hash."""
    key_id = secrets.token_hex(_ID_BYTES)
    secret = secrets.token_hex(_SECRET_BYTES)
    return NewKey(key_id, token_hash(secret), f"ik_{mode}_{key_id}_{secret}")


def parse_key(text: str) -> ParsedKey | None:
    """ik_live_<id>_<secret> → its parts; None when it does not have that shape."""
    parts = text.split("_")
    if len(parts) != 4 or parts[0] != "ik" or parts[1] not in KEY_MODES:
        return None
    _, mode, key_id, secret = parts
    if len(key_id) != 2 * _ID_BYTES or not secret or len(secret) > 256:
        return None
    return ParsedKey(mode, key_id, secret)


def secret_matches(secret: str, stored_hash: bytes) -> bool:
    return hmac.compare_digest(token_hash(secret), stored_hash)


def prefix(mode: str, key_id: str) -> str:
    """The part of a key that is safe to show: ik_live_<id>."""
    return f"ik_{mode}_{key_id}"
