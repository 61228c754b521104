"""Webhook signing secrets encrypted at rest: AES-256-GCM, a key ring, the endpoint id bound in."""

from __future__ import annotations

import base64
import binascii
import logging
import secrets
import uuid
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from inlet_common.keyring import check_key, new_key_ring, parse_key_ring

__all__ = ["KeyRing", "SecretKeyError", "new_key_ring"]

log = logging.getLogger(__name__)

# Every sealed value starts with PREFIX; the version after it says how to open the rest,
# so a later format can sit beside v1 in the same column.
PREFIX = "enc:"
V1 = "enc:v1:"
NONCE_BYTES = 12  # GCM's 96-bit nonce; random per value (2^32 values per key stay safe)


class SecretKeyError(Exception):
    """A stored signing secret cannot be opened; the message names the endpoint, never a key."""


def _associated(endpoint_id: object) -> bytes:
    # The canonical UUID text: the id as psycopg returns it (uuid.UUID) and as a caller
    # writes it (any case) bind the same way.
    return str(uuid.UUID(str(endpoint_id))).encode()


class KeyRing:
    """Keys by id: the first seals, every one opens. Holds no key bytes in its repr."""

    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        if not keys:
            raise ValueError("needs at least one key")
        self._ciphers: dict[str, AESGCM] = {}
        for kid, key in keys:
            check_key(kid, key)
            if kid in self._ciphers:
                raise ValueError(f"key id {kid!r} appears twice")
            self._ciphers[kid] = AESGCM(key)
        self.primary = keys[0][0]
        self.sealed_prefix = f"{V1}{self.primary}:"
        # Endpoints whose plaintext secret was already warned about (once each).
        self._warned: set[str] = set()

    @classmethod
    def parse(cls, text: str) -> KeyRing:
        """`kid:base64key[,kid:base64key…]`; a ValueError names the entry, never its key."""
        return cls(parse_key_ring(text))

    @property
    def kids(self) -> list[str]:
        return list(self._ciphers)

    def __repr__(self) -> str:
        return f"KeyRing(primary={self.primary!r}, kids={self.kids!r})"

    def seal(self, endpoint_id: object, clear: str) -> str:
        """`enc:v1:<kid>:<urlsafe-b64(nonce||ciphertext+tag)>` under the first key."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._ciphers[self.primary].encrypt(
            nonce, clear.encode(), _associated(endpoint_id)
        )
        return self.sealed_prefix + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, endpoint_id: object, stored: str) -> str:
        """The clear secret. A value from before encryption (no `enc:` prefix) passes
        through, with a warning once per endpoint, so nothing breaks mid-upgrade."""
        if not stored.startswith(PREFIX):
            if str(endpoint_id) not in self._warned:
                self._warned.add(str(endpoint_id))
                log.warning(
                    "webhook signing secret stored in clear; the next notifier start encrypts it",
                    extra={"endpoint_id": str(endpoint_id)},
                )
            return stored
        whose = f"the signing secret of webhook endpoint {endpoint_id}"
        if not stored.startswith(V1):
            raise SecretKeyError(f"{whose} is in an unknown format (not {V1!r})")
        kid, _, blob = stored.removeprefix(V1).partition(":")
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise SecretKeyError(
                f"{whose} is encrypted with key {kid!r}, which INLET_WEBHOOK_SECRET_KEYS "
                f"does not hold (it holds {', '.join(self.kids)})"
            )
        try:
            raw = base64.urlsafe_b64decode(blob.encode())
        except (binascii.Error, ValueError):
            raise SecretKeyError(f"{whose} is not valid base64") from None
        if len(raw) <= NONCE_BYTES:
            raise SecretKeyError(f"{whose} is truncated")
        try:
            clear = cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _associated(endpoint_id))
        except InvalidTag:
            # The same answer for a wrong key, an altered value and one copied from
            # another endpoint's row (the id is the associated data): GCM cannot tell.
            raise SecretKeyError(
                f"{whose} does not decrypt with key {kid!r}: a different key under that id, "
                "or the value was altered or belongs to another endpoint"
            ) from None
        return clear.decode()

    def reseal(self, endpoint_id: object, stored: str) -> str:
        """`stored` sealed under the first key (clear or older-key values); as is if already."""
        if stored.startswith(self.sealed_prefix):
            return stored
        clear = self.open(endpoint_id, stored) if stored.startswith(PREFIX) else stored
        return self.seal(endpoint_id, clear)
