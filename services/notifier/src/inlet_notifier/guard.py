"""Refusing webhook targets on loopback, link-local and private networks (SSRF guard).

Checked twice: when an endpoint is created or changed (the URL and what its host
resolves to), and when each delivery connects (delivery.http's resolver): the connection
goes to the address that was checked, so a DNS answer that changes in between
(rebinding) cannot slip through.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable

import httpx

from inlet_notifier.errors import BadWebhookUrl, PrivateTarget

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_public(address: IPAddress) -> bool:
    """Globally routable unicast: not loopback, private, link-local, CGNAT, reserved…"""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def parse_url(url: str) -> httpx.URL:
    """An http(s) URL with a host, or BadWebhookUrl naming what is wrong."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as error:
        raise BadWebhookUrl(f"url is not a valid URL: {error}") from None
    if parsed.scheme not in {"http", "https"}:
        raise BadWebhookUrl(f"url must be http or https, got {parsed.scheme or 'no scheme'!r}")
    if not parsed.host:
        raise BadWebhookUrl("url has no host")
    return parsed


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to (an IP literal resolves to itself)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    found: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


def refuse_private(host: str, addresses: Iterable[IPAddress]) -> None:
    bad = [str(a) for a in addresses if not is_public(a)]
    if bad:
        raise PrivateTarget(
            f"url host {host!r} resolves to a loopback, link-local or private address "
            f"({', '.join(bad)}); set INLET_WEBHOOK_ALLOW_PRIVATE=true to allow it"
        )


async def check_url(url: str, *, allow_private: bool) -> str:
    """The URL if it may be a webhook target; BadWebhookUrl or PrivateTarget if not.

    A host that does not resolve (yet) is accepted: delivery checks again.
    """
    parsed = parse_url(url)
    if not allow_private:
        try:
            addresses = await resolve(parsed.host, parsed.port or 443)
        except OSError:
            addresses = []
        refuse_private(parsed.host, addresses)
    return str(parsed)
