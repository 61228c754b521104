"""Key rings from configuration (`kid:base64key,…`, 32-byte AES-256 keys): the first seals."""

from __future__ import annotations

import base64
import binascii
import os
import re
import time

KEY_BYTES = 32  # AES-256
_KID = re.compile(r"[A-Za-z0-9_.-]{1,32}")


def new_key_ring(kid: str | None = None) -> str:
    """A fresh one-key ring: `kid:urlsafe-base64(32 bytes)`."""
    kid = kid or time.strftime("k%Y%m%d", time.gmtime())
    return f"{kid}:{base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode()}"


def key_bytes(text: str) -> bytes:
    """Standard or urlsafe base64, padding optional (people paste both)."""
    normal = text.replace("-", "+").replace("_", "/")
    return base64.b64decode(normal + "=" * (-len(normal) % 4), validate=True)


def check_key(kid: str, key: bytes) -> None:
    """A ValueError naming the key id (never the key) when either is malformed."""
    if not _KID.fullmatch(kid):
        raise ValueError(f"key id {kid!r} must be 1-32 of A-Z a-z 0-9 _ . -")
    if len(key) != KEY_BYTES:
        raise ValueError(f"key {kid!r} must be {KEY_BYTES} bytes, got {len(key)}")


def parse_key_ring(text: str) -> list[tuple[str, bytes]]:
    """The (kid, key) pairs of `kid:base64key[,kid:base64key…]`, first first; a ValueError
    names the entry at fault, never its key."""
    keys: list[tuple[str, bytes]] = []
    for number, entry in enumerate(text.strip().split(","), 1):
        kid, sep, encoded = entry.strip().partition(":")
        if not sep or not kid:
            raise ValueError(f"entry {number} must be kid:base64key")
        try:
            key = key_bytes(encoded.strip())
        except (binascii.Error, ValueError):
            raise ValueError(f"key {kid!r} (entry {number}) is not base64") from None
        check_key(kid, key)
        if any(kid == seen for seen, _ in keys):
            raise ValueError(f"key id {kid!r} appears twice")
        keys.append((kid, key))
    return keys
