"""Workspace API keys (ak_<id>_<secret>) and the errors of push transfer.

inlet_common.errors.InletError
├── Unauthenticated ── PushUnauthorized              (401 UNAUTHORIZED)
├── NotFound ── TransferNotFound                     (404 TRANSFER_NOT_FOUND)
├── InvalidArgument ── InvalidTransfer               (400 INVALID_TRANSFER, fields named)
├── ResourceExhausted ── TransferTooLarge            (413, judged at the edge; logged here)
└── FailedPrecondition ── LeaseLost (streams)        (another worker owns the transfer)
(RateLimited and IdempotencyKeyReused are shared with the other dialects, in guards.py.)
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from inlet_common.credentials import token_hash
from inlet_common.errors import InvalidArgument, NotFound, ResourceExhausted, Unauthenticated

_ID_BYTES = 8
_SECRET_BYTES = 32


class PushUnauthorized(Unauthenticated):
    reason = "UNAUTHORIZED"


class TransferNotFound(NotFound):
    reason = "TRANSFER_NOT_FOUND"


class InvalidTransfer(InvalidArgument):
    reason = "INVALID_TRANSFER"


class TransferTooLarge(ResourceExhausted):
    reason = "PAYLOAD_TOO_LARGE"


@dataclass(frozen=True)
class ParsedKey:
    key_id: str
    secret: str


@dataclass(frozen=True)
class NewKey:
    key_id: str
    secret_hash: bytes
    full: str  # shown once


def new_key() -> NewKey:
    """A fresh key: a public id for the lookup and a 256-bit secret kept only as a hash."""
    key_id = secrets.token_hex(_ID_BYTES)
    secret = secrets.token_hex(_SECRET_BYTES)
    return NewKey(key_id, token_hash(secret), f"ak_{key_id}_{secret}")


def parse_key(text: str) -> ParsedKey | None:
    """ak_<id>_<secret> → its parts; None when it does not have that shape."""
    parts = text.split("_")
    if len(parts) != 3 or parts[0] != "ak":
        return None
    _, key_id, secret = parts
    if len(key_id) != 2 * _ID_BYTES or not secret or len(secret) > 256:
        return None
    return ParsedKey(key_id, secret)


def prefix(key_id: str) -> str:
    """The part of a key that is safe to show: ak_<id>."""
    return f"ak_{key_id}"


def new_session_id() -> str:
    """24 hexadecimal characters, as the seed's session ids."""
    return secrets.token_hex(12)


def new_transfer_id() -> str:
    """24 hexadecimal characters, as the seed's transfer ids."""
    return secrets.token_hex(12)
