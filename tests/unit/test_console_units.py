"""The console's parts without a stack: sealed sessions, cookies, redirects kept local,
form fields, its configuration, and a Secure cookie over TLS."""

from __future__ import annotations

from typing import Any

import pytest

from inlet_common.config import ConfigError
from inlet_common.keyring import new_key_ring, parse_key_ring
from inlet_gateway.config import GatewayConfig
from inlet_gateway.console import build_console
from inlet_gateway.console.forms import (
    FormError,
    optional_duration,
    optional_int,
    optional_time,
)
from inlet_gateway.console.session import (
    Sealer,
    Sessions,
    parse_cookies,
    same_token,
    set_cookie,
)
from inlet_gateway.console.web import local_path


def sessions(ring: str | None = None, now: list[float] | None = None) -> Sessions:
    clock = now if now is not None else [1_000_000.0]
    return Sessions(
        Sealer(parse_key_ring(ring or new_key_ring("k1"))), 3600, clock=lambda: clock[0]
    )


def test_a_session_seals_and_opens_and_hides_its_token() -> None:
    made = sessions()
    session = made.start("adm_secret", "w-id", "demo", "Demo")
    sealed = made.seal(session)
    assert "adm_secret" not in sealed
    assert made.read(sealed) == session
    assert "adm_secret" not in repr(session)
    assert session.csrf not in repr(session)
    assert session.workspace == "workspaces/w-id"


def test_forged_expired_foreign_and_misused_cookies_are_no_session() -> None:
    now = [1_000_000.0]
    made = sessions(now=now)
    sealed = made.seal(made.start("adm_x", "w", "demo", "Demo"))
    kid, _, blob = sealed.partition(".")
    flipped = f"{kid}.{blob[:-3]}{'A' if blob[-3] != 'A' else 'B'}{blob[-2:]}"
    assert made.read(flipped) is None
    assert made.read("nokey.abc") is None
    assert made.read("k1.!!!") is None
    assert made.read("") is None
    # Another installation's key, even under the same key id: nothing opens.
    assert sessions().read(sealed) is None
    # A sign-in cookie is never a session, nor a session a sign-in cookie.
    _, signin = made.signin_token()
    assert made.read(signin) is None
    assert made.signin_csrf(sealed) is None
    now[0] += 3601
    assert made.read(sealed) is None


def test_a_rotated_key_ring_still_opens_sessions_sealed_under_the_old_key() -> None:
    old = new_key_ring("old")
    sealed = sessions(old).seal(sessions(old).start("adm_x", "w", "demo", "Demo"))
    rotated = sessions(f"{new_key_ring('new')},{old}")
    assert rotated.read(sealed) is not None
    assert rotated.seal(rotated.start("adm_x", "w", "demo", "Demo")).startswith("new.")


def test_the_sign_in_token_is_vouched_for_by_its_cookie() -> None:
    made = sessions()
    csrf, cookie = made.signin_token()
    assert made.signin_csrf(cookie) == csrf
    assert same_token(csrf, csrf)
    assert not same_token(csrf, "other")
    assert not same_token(csrf, None)
    assert not same_token(csrf, "")


def test_cookies_are_http_only_strict_and_secure_over_tls() -> None:
    name, value = set_cookie("inlet_console", "v", max_age=60, secure=False)
    assert name == b"set-cookie"
    assert value == b"inlet_console=v; Path=/console; Max-Age=60; HttpOnly; SameSite=Strict"
    assert set_cookie("c", "v", max_age=60, secure=True)[1].endswith(b"; Secure")
    assert parse_cookies(b'a=1; inlet_console="x.y"; a=2') == {"a": "1", "inlet_console": "x.y"}
    assert parse_cookies(None) == {}


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/console/endpoints", "/console/endpoints"),
        ("/console/endpoints?x=1", "/console/endpoints"),
        ("//evil.example/console/", "/console/"),
        ("https://evil.example/console/", "/console/"),
        ("/console//evil.example", "/console/"),
        ("/console/\\evil", "/console/"),
        ("/admin/v1/workspaces", "/console/"),
        (None, "/console/"),
    ],
)
def test_redirects_after_sign_in_stay_in_the_console(target: str | None, expected: str) -> None:
    assert local_path(target) == expected


def test_form_fields_are_read_or_refused_naming_them() -> None:
    assert optional_int(" 42 ", "Rate limit", minimum=1, maximum=100) == 42
    assert optional_int("", "Rate limit", minimum=1, maximum=100) is None
    for bad in ("abc", "0", "101", "-1", "1.5"):
        with pytest.raises(FormError) as caught:
            optional_int(bad, "Rate limit", minimum=1, maximum=100)
        assert caught.value.label == "Rate limit"
    stamp = optional_time("2026-12-01T15:21", "Since")
    assert stamp is not None
    assert stamp.ToJsonString() == "2026-12-01T15:21:00Z"
    offset = optional_time("2026-12-01T16:21:00+01:00", "Since")
    assert offset is not None
    assert offset.ToJsonString() == "2026-12-01T15:21:00Z"
    with pytest.raises(FormError, match="Since"):
        optional_time("yesterday", "Since")
    grace = optional_duration("1h30m", "Grace period")
    assert grace is not None
    assert grace.seconds == 5400
    assert optional_duration("", "Grace period") is None
    assert optional_duration("0", "Grace period") is None
    with pytest.raises(FormError, match="Grace period"):
        optional_duration("soon", "Grace period")


def test_console_configuration_is_checked_and_never_printed() -> None:
    ring = new_key_ring("k1")
    config = GatewayConfig.from_env({"INLET_CONSOLE_SESSION_KEYS": ring})
    assert config.console
    assert config.console_session_keys == ring
    assert ring.split(":", 1)[1] not in repr(config)
    assert config.console_secure_cookie is None
    assert config.console_session_seconds == 8 * 3600
    assert not GatewayConfig.from_env({"INLET_CONSOLE": "false"}).console
    assert GatewayConfig.from_env({"INLET_CONSOLE_SECURE_COOKIE": "true"}).console_secure_cookie
    for bad in (
        {"INLET_CONSOLE_SESSION_KEYS": "k1:short"},
        {"INLET_CONSOLE_SESSION_KEYS": "nokey"},
        {"INLET_CONSOLE_SECURE_COOKIE": "maybe"},
        {"INLET_CONSOLE_SESSION_SECONDS": "10"},
    ):
        with pytest.raises(ConfigError) as caught:
            GatewayConfig.from_env(bad)
        assert next(iter(bad)) in str(caught.value)


async def _get(console: Any, path: str, scheme: str) -> Any:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {"type": "http", "method": "GET", "path": path, "scheme": scheme, "query_string": b""}
    reply, label = await console.handle(scope, receive, {b"host": b"console.example"})
    return reply, label


async def test_the_sign_in_cookie_is_secure_over_tls_and_pages_carry_security_headers() -> None:
    config = GatewayConfig.from_env({"INLET_CONSOLE_SESSION_KEYS": new_key_ring()})
    console = build_console(config, lambda address: None)  # type: ignore[arg-type,return-value]
    over_tls, label = await _get(console, "/console/sign-in", "https")
    assert label == "/console/sign-in"
    headers = dict(over_tls.headers)
    assert headers[b"set-cookie"].endswith(b"; Secure")
    assert headers[b"cache-control"] == b"no-store"
    assert headers[b"x-content-type-options"] == b"nosniff"
    assert b"'unsafe" not in headers[b"content-security-policy"]
    plain, _ = await _get(console, "/console/sign-in", "http")
    assert not dict(plain.headers)[b"set-cookie"].endswith(b"; Secure")
    # Not signed in: every page sends to the sign-in form, remembering where it was going.
    away, _ = await _get(console, "/console/webhooks", "http")
    assert away.status == 303
    assert dict(away.headers)[b"location"] == b"/console/sign-in?next=/console/webhooks"
