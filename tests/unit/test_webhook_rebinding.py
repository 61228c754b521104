"""The SSRF guard at delivery time: each connection resolves, checks and connects to the
address it checked, so a DNS answer that changes after the URL was accepted (rebinding)
cannot reach a private network."""

from __future__ import annotations

import ipaddress

import pytest

from inlet_notifier import guard
from inlet_notifier.delivery.http import GuardedResolver, Poster

PUBLIC = ipaddress.ip_address("93.184.216.34")
LOOPBACK = ipaddress.ip_address("127.0.0.1")
METADATA = ipaddress.ip_address("169.254.169.254")


class Rebinding:
    """A resolver that answers `answers` in turn, one per lookup (the last one repeats)."""

    def __init__(self, *answers: list[guard.IPAddress]) -> None:
        self.answers = list(answers)
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[guard.IPAddress]:
        self.lookups.append(host)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


async def test_a_host_that_rebinds_to_loopback_after_the_check_is_refused_at_delivery(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    resolver = Rebinding([PUBLIC], [LOOPBACK])
    monkeypatch.setattr(guard, "resolve", resolver)
    # Accepted when the endpoint is saved: the name resolved to a public address then.
    assert await guard.check_url("https://hooks.example.com/x", allow_private=False)
    with pytest.raises(OSError, match=r"127\.0\.0\.1"):
        await GuardedResolver().resolve("hooks.example.com", 443)
    assert resolver.lookups == ["hooks.example.com", "hooks.example.com"]


async def test_any_private_answer_among_several_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(guard, "resolve", Rebinding([PUBLIC, METADATA]))
    with pytest.raises(OSError, match=r"169\.254\.169\.254"):
        await GuardedResolver().resolve("hooks.example.com", 443)


async def test_delivery_connects_to_the_checked_address_not_the_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A second lookup inside the connection would be a second chance to rebind: the guard
    # hands the connector the address it checked, as a numeric host.
    resolver = Rebinding([PUBLIC], [LOOPBACK])
    monkeypatch.setattr(guard, "resolve", resolver)
    (found,) = await GuardedResolver().resolve("hooks.example.com", 443)
    assert (found["host"], found["port"], found["hostname"]) == (
        str(PUBLIC),
        443,
        "hooks.example.com",
    )
    assert resolver.lookups == ["hooks.example.com"]


async def test_the_delivery_client_goes_through_the_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    """The poster the workers use, end to end through aiohttp: a rebound name fails as an
    attempt that sent nothing, naming the private address."""
    monkeypatch.setattr(guard, "resolve", Rebinding([LOOPBACK]))
    poster = Poster(allow_private=False, max_connections=4, timeout=5)
    try:
        answer = await poster.post("http://hooks.example.com/hook", b"{}", {})
    finally:
        await poster.close()
    assert answer.status == 0
    assert "127.0.0.1" in answer.error


async def test_an_ip_literal_is_checked_before_sending() -> None:
    poster = Poster(allow_private=False, max_connections=4, timeout=5)
    try:
        answer = await poster.post("http://169.254.169.254/latest", b"{}", {})
    finally:
        await poster.close()
    assert answer.status == 0
    assert "169.254.169.254" in answer.error
