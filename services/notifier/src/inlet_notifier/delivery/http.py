"""The HTTP side of an attempt: one POST over a pooled aiohttp client, guarded against
private-network targets by its resolver (the connection goes to the address checked)."""

from __future__ import annotations

import errno
import ipaddress
import socket
from dataclasses import dataclass

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from inlet_notifier import guard
from inlet_notifier.errors import PrivateTarget

SNIPPET_BYTES = 1024


@dataclass(frozen=True)
class Answer:
    """What came back: a status (0: none) and a snippet, or an error; Retry-After as sent."""

    status: int = 0
    snippet: str = ""
    retry_after: str | None = None
    error: str = ""


class GuardedResolver(AbstractResolver):
    """Resolves, and refuses a host with any non-public address (SSRF guard)."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = await guard.resolve(host, port)
        try:
            guard.refuse_private(host, addresses)
        except PrivateTarget as refused:
            # With an errno, so aiohttp's connection error carries the reason to the
            # attempt's recorded error.
            raise OSError(errno.EACCES, refused.message) from None
        return [
            ResolveResult(
                hostname=host,
                host=str(a),
                port=port,
                family=socket.AF_INET6 if a.version == 6 else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for a in addresses
        ]

    async def close(self) -> None:
        return None


def _literal(host: str) -> guard.IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


class Poster:
    """POSTs for one worker: `max_connections` pooled connections, `timeout` per attempt."""

    def __init__(self, *, allow_private: bool, max_connections: int, timeout: float) -> None:
        self.allow_private = allow_private
        self.max_connections = max_connections
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # Made on first use: a session belongs to the running event loop.
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self.max_connections,
                resolver=None if self.allow_private else GuardedResolver(),
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                auto_decompress=False,
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def post(self, url: str, payload: bytes, headers: dict[str, str]) -> Answer:
        try:
            target = URL(url)
            if target.scheme not in ("http", "https") or not target.host:
                return Answer(error=f"not an http(s) URL with a host: {url!r}")
            literal = _literal(target.host)
            # An IP literal never reaches the resolver: it is checked here.
            if literal is not None and not self.allow_private:
                guard.refuse_private(target.host, [literal])
            async with self._client().post(
                target, data=payload, headers=headers, allow_redirects=False
            ) as answer:
                snippet = await answer.content.read(SNIPPET_BYTES)
                return Answer(
                    status=answer.status,
                    snippet=snippet.decode("utf-8", "replace"),
                    retry_after=answer.headers.get("retry-after"),
                )
        except PrivateTarget as refused:
            return Answer(error=refused.message)
        except TimeoutError:
            return Answer(error=f"timed out after {self.timeout} s")
        except (aiohttp.ClientError, ValueError) as failure:
            # ValueError: a URL given with a push transfer that cannot be used.
            return Answer(error=str(failure) or type(failure).__name__)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
