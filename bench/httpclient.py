"""A lean HTTP/1.1 keep-alive client for closed-loop load: one request per connection at a time."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import NamedTuple, cast
from urllib.parse import urlsplit

import httptools


class Reply(NamedTuple):
    status: int
    body: bytes


class HttpError(Exception):
    """The connection failed, was closed, timed out or sent something that is not HTTP."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection; `send` writes a whole request and waits for its reply."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._reply: asyncio.Future[Reply] | None = None
        self._body: list[bytes] = []
        self._status = 0
        self.reusable = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self._transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        self._fail(HttpError(f"connection lost: {exc}" if exc else "connection closed"))

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as error:
            self.close()
            self._fail(HttpError(f"bad reply: {error}"))

    # httptools callbacks
    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()
        self.reusable = self._parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        reply, self._reply = self._reply, None
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        self._body = []
        if reply is not None and not reply.done():
            reply.set_result(Reply(self._status, body))

    def _fail(self, error: HttpError) -> None:
        reply, self._reply = self._reply, None
        if reply is not None and not reply.done():
            reply.set_exception(error)

    async def send(self, request: bytes, within: float) -> Reply:
        assert self._transport is not None
        reply: asyncio.Future[Reply] = self._loop.create_future()
        self._reply = reply
        self._transport.write(request)
        # A timer handle, not asyncio.timeout: per request it is a tenth of the CPU.
        timer = self._loop.call_later(within, self._timed_out, reply)
        try:
            return await reply
        finally:
            timer.cancel()

    def _timed_out(self, reply: asyncio.Future[Reply]) -> None:
        if reply is self._reply:
            self.close()
            self._fail(HttpError("timed out"))

    def close(self) -> None:
        self.reusable = False
        if self._transport is not None:
            self._transport.close()


class HttpClient:
    """POSTs over at most `connections` keep-alive connections to one origin.

    Neither httpx nor aiohttp: on 2 cores the load generator shares the CPU with the
    services it measures, and aiohttp spent ≈ 0.2 ms of CPU per request (httpx ≈ 5), as
    much as the store. Requests are written as one pre-encoded buffer and replies parsed
    by httptools (uvicorn's parser), as load generators such as wrk do.
    """

    def __init__(self, base_url: str, *, connections: int, timeout: float = 30.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(f"an http:// URL is needed, not {base_url!r}")
        self._host = parts.hostname
        self._port = parts.port or 80
        self._authority = parts.netloc.encode()
        self._timeout = timeout
        self._slots = asyncio.Semaphore(connections)
        self._idle: deque[_Connection] = deque()

    def request_bytes(
        self, path: str, body: bytes, headers: tuple[tuple[str, str], ...] = ()
    ) -> bytes:
        """A whole POST: head and body in one buffer (encode once, send many times)."""
        head = [
            f"POST {path} HTTP/1.1\r\n".encode(),
            b"host: ",
            self._authority,
            b"\r\ncontent-type: application/json\r\ncontent-length: ",
            str(len(body)).encode(),
            b"\r\n",
        ]
        head += [f"{name}: {value}\r\n".encode() for name, value in headers]
        return b"".join([*head, b"\r\n", body])

    async def send(self, request: bytes) -> Reply:
        """Send a request made by `request_bytes`; raises HttpError when no reply came."""
        async with self._slots:
            connection = self._idle.pop() if self._idle else await self._connect()
            try:
                reply = await connection.send(request, self._timeout)
            except BaseException:
                connection.close()
                raise
            if connection.reusable:
                self._idle.append(connection)
            else:
                connection.close()
            return reply

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, connection = await loop.create_connection(
                lambda: _Connection(loop), self._host, self._port
            )
        except OSError as error:
            raise HttpError(f"cannot connect: {error}") from None
        return connection

    async def aclose(self) -> None:
        while self._idle:
            self._idle.pop().close()
