"""The SSRF guard at delivery time: each connection resolves, checks and connects to the
address it checked, so a DNS answer that changes after the URL was accepted (rebinding)
cannot reach a private network."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx
import pytest

from inlet_notifier import guard

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


class RecordingBackend(httpcore.AsyncNetworkBackend):
    """The network under the guard: records where it was asked to connect, and refuses."""

    def __init__(self) -> None:
        self.connects: list[tuple[str, int]] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.connects.append((host, port))
        raise httpcore.ConnectError("test network: no connections")

    async def sleep(self, seconds: float) -> None:
        return None


async def test_a_host_that_rebinds_to_loopback_after_the_check_is_refused_at_delivery(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    resolver = Rebinding([PUBLIC], [LOOPBACK])
    monkeypatch.setattr(guard, "resolve", resolver)
    # Accepted when the endpoint is saved: the name resolved to a public address then.
    assert await guard.check_url("https://hooks.example.com/x", allow_private=False)
    inner = RecordingBackend()
    backend = guard.GuardedBackend(inner)
    with pytest.raises(guard.PrivateAddressRefused, match=r"127\.0\.0\.1"):
        await backend.connect_tcp("hooks.example.com", 443)
    assert inner.connects == []  # nothing was opened towards the private address
    assert resolver.lookups == ["hooks.example.com", "hooks.example.com"]


async def test_any_private_answer_among_several_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(guard, "resolve", Rebinding([PUBLIC, METADATA]))
    inner = RecordingBackend()
    with pytest.raises(guard.PrivateAddressRefused, match=r"169\.254\.169\.254"):
        await guard.GuardedBackend(inner).connect_tcp("hooks.example.com", 443)
    assert inner.connects == []


async def test_delivery_connects_to_the_checked_address_not_the_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A second lookup inside the connection would be a second chance to rebind: the guard
    # hands the network the address it checked.
    resolver = Rebinding([PUBLIC], [LOOPBACK])
    monkeypatch.setattr(guard, "resolve", resolver)
    inner = RecordingBackend()
    with pytest.raises(httpcore.ConnectError):
        await guard.GuardedBackend(inner).connect_tcp("hooks.example.com", 443)
    assert inner.connects == [(str(PUBLIC), 443)]
    assert resolver.lookups == ["hooks.example.com"]


async def test_the_delivery_client_goes_through_the_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    """The transport the workers use, end to end through httpx: a rebound name fails as a
    connection error (an attempt that failed), and no request leaves."""
    monkeypatch.setattr(guard, "resolve", Rebinding([LOOPBACK]))
    transport = guard.transport(allow_private=False, max_connections=4)
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(httpx.ConnectError, match="private address"):
            await client.post("http://hooks.example.com/hook", content=b"{}")


async def test_private_targets_allowed_skip_the_guard() -> None:
    made: Any = guard.transport(allow_private=True, max_connections=4)
    assert not isinstance(made._pool._network_backend, guard.GuardedBackend)
