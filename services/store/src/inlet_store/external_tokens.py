"""Tokens of the external API: project access tokens (pat_<id>_<secret>, the server
tokens) and client tokens of the form (pct_<id>_<secret>). As ingest keys: the id is the
lookup, only SHA-256(secret) is stored, and the secret is compared in constant time."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from inlet_common.credentials import token_hash
from inlet_store.streams import NewKey

PROJECT = "pat"
CLIENT = "pct"
_ID_BYTES = 8
_SECRET_BYTES = 32


@dataclass(frozen=True)
class ParsedToken:
    token_id: str
    secret: str


def new_token(kind: str) -> NewKey:
    """A fresh token of `kind` (PROJECT or CLIENT); `full` is shown once."""
    token_id = secrets.token_hex(_ID_BYTES)
    secret = secrets.token_hex(_SECRET_BYTES)
    return NewKey(token_id, token_hash(secret), f"{kind}_{token_id}_{secret}")


def parse_token(kind: str, text: str) -> ParsedToken | None:
    """<kind>_<id>_<secret> → its parts; None when it does not have that shape."""
    parts = text.split("_")
    if len(parts) != 3 or parts[0] != kind:
        return None
    _, token_id, secret = parts
    if len(token_id) != 2 * _ID_BYTES or not secret or len(secret) > 256:
        return None
    return ParsedToken(token_id, secret)


def prefix(kind: str, token_id: str) -> str:
    """The part of a token that is safe to show: pat_<id>."""
    return f"{kind}_{token_id}"
