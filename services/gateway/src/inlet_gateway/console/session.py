"""Console sessions: the admin token sealed (AES-256-GCM) in an HttpOnly cookie, and CSRF."""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SESSION_COOKIE = "inlet_console"
# Before sign-in: carries the sign-in form's CSRF token (so a foreign page cannot sign a
# browser in to the attacker's workspace).
SIGNIN_COOKIE = "inlet_console_signin"
COOKIE_PATH = "/console"
SIGNIN_SECONDS = 3600

_NONCE_BYTES = 12
_SESSION_PURPOSE = b"inlet-console-session-v1"
_SIGNIN_PURPOSE = b"inlet-console-signin-v1"


@dataclass(frozen=True)
class Session:
    """A signed-in admin: the token the admin API is called with, and what it grants."""

    token: str
    workspace_id: str
    workspace_slug: str
    workspace_display_name: str
    csrf: str
    expires: int  # unix seconds

    @property
    def workspace(self) -> str:
        """The workspace's resource name."""
        return f"workspaces/{self.workspace_id}"

    def __repr__(self) -> str:
        # Never the token or the CSRF token, wherever a session is printed.
        return f"Session(workspace={self.workspace_slug!r}, expires={self.expires})"


class Sealer:
    """AES-256-GCM under a key ring: the first key seals, every key opens; each value is bound
    to its purpose, so a sign-in cookie never opens as a session."""

    def __init__(self, keys: list[tuple[str, bytes]]) -> None:
        if not keys:
            raise ValueError("needs at least one key")
        self._ciphers = {kid: AESGCM(key) for kid, key in keys}
        self._primary = keys[0][0]

    def seal(self, payload: dict[str, Any], purpose: bytes) -> str:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._ciphers[self._primary].encrypt(nonce, orjson.dumps(payload), purpose)
        return f"{self._primary}.{base64.urlsafe_b64encode(nonce + sealed).decode().rstrip('=')}"

    def open(self, text: str, purpose: bytes) -> dict[str, Any] | None:
        """The payload, or None for anything this ring did not seal for `purpose`."""
        kid, _, blob = text.partition(".")
        cipher = self._ciphers.get(kid)
        if cipher is None or not blob:
            return None
        try:
            raw = base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4))
            clear = cipher.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], purpose)
            payload = orjson.loads(clear)
        except (binascii.Error, ValueError, InvalidTag, orjson.JSONDecodeError):
            return None
        return payload if isinstance(payload, dict) else None


class Sessions:
    """Makes and reads the console's cookies; nothing is kept in the process."""

    def __init__(
        self,
        sealer: Sealer,
        lifetime_seconds: int,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sealer = sealer
        self.lifetime_seconds = lifetime_seconds
        self._clock = clock

    def start(
        self, token: str, workspace_id: str, workspace_slug: str, display_name: str
    ) -> Session:
        return Session(
            token=token,
            workspace_id=workspace_id,
            workspace_slug=workspace_slug,
            workspace_display_name=display_name,
            csrf=secrets.token_urlsafe(32),
            expires=int(self._clock()) + self.lifetime_seconds,
        )

    def seal(self, session: Session) -> str:
        return self.sealer.seal(asdict(session), _SESSION_PURPOSE)

    def read(self, cookie: str | None) -> Session | None:
        """The session in a cookie; None when absent, forged, sealed by a retired key or
        expired."""
        if not cookie:
            return None
        payload = self.sealer.open(cookie, _SESSION_PURPOSE)
        if payload is None:
            return None
        try:
            session = Session(**payload)
        except TypeError:
            return None
        if not isinstance(session.expires, int) or session.expires <= self._clock():
            return None
        return session

    def signin_token(self) -> tuple[str, str]:
        """A CSRF token for the sign-in form and the cookie that vouches for it."""
        csrf = secrets.token_urlsafe(32)
        expires = int(self._clock()) + SIGNIN_SECONDS
        return csrf, self.sealer.seal({"csrf": csrf, "expires": expires}, _SIGNIN_PURPOSE)

    def signin_csrf(self, cookie: str | None) -> str | None:
        if not cookie:
            return None
        payload = self.sealer.open(cookie, _SIGNIN_PURPOSE)
        if payload is None or not isinstance(payload.get("expires"), int):
            return None
        if payload["expires"] <= self._clock() or not isinstance(payload.get("csrf"), str):
            return None
        return str(payload["csrf"])


def same_token(expected: str, given: str | None) -> bool:
    """Constant-time comparison of a CSRF token."""
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())


def parse_cookies(header: bytes | None) -> dict[str, str]:
    cookies: dict[str, str] = {}
    for part in (header or b"").decode("latin-1").split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name and name not in cookies:
            cookies[name] = value.strip().strip('"')
    return cookies


def set_cookie(name: str, value: str, *, max_age: int, secure: bool) -> tuple[bytes, bytes]:
    """A Set-Cookie header: HttpOnly, SameSite=Strict, on /console only; Secure over TLS."""
    parts = [
        f"{name}={value}",
        f"Path={COOKIE_PATH}",
        f"Max-Age={max_age}",
        "HttpOnly",
        "SameSite=Strict",
    ]
    if secure:
        parts.append("Secure")
    return b"set-cookie", "; ".join(parts).encode("latin-1")


def clear_cookie(name: str, *, secure: bool) -> tuple[bytes, bytes]:
    return set_cookie(name, "", max_age=0, secure=secure)
