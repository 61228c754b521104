"""The bench's lean HTTP client against a real socket server: replies, reuse, and failures."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from bench.httpclient import HttpClient, HttpError

Answer = Callable[[bytes], bytes]
Served = tuple[str, list[bytes], list[int]]
Start = Callable[[Answer], Awaitable[Served]]


class Server:
    """A socket server answering each request (head and body) with `answer(request)`; it
    records the requests and which connection (by order of accept) each came on. An empty
    answer is no answer at all."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[bytes] = []
        self.connections: list[int] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.handlers: list[asyncio.Task[None]] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.append(task)
        self.writers.append(writer)
        number = len(self.writers)
        try:
            while not reader.at_eof():
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                self.connections.append(number)
                reply = self.answer(request)
                if not reply:
                    await asyncio.Event().wait()  # never answers; cancelled at the end
                writer.write(reply)
                await writer.drain()
                if b"connection: close" in reply:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client went away
        finally:
            writer.close()

    async def stop(self) -> None:
        for handler in self.handlers:
            handler.cancel()
        await asyncio.gather(*self.handlers, return_exceptions=True)
        for writer in self.writers:
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@pytest.fixture
async def base() -> AsyncIterator[Start]:
    servers: list[Server] = []

    async def start(answer: Answer) -> Served:
        server = Server(answer)
        servers.append(server)
        return await server.start(), server.requests, server.connections

    yield start
    for server in servers:
        await server.stop()


def ok(body: bytes) -> Answer:
    return lambda _: b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)


async def test_a_post_is_sent_whole_and_its_reply_read(base: Start) -> None:
    url, requests, _ = await base(ok(b'{"a":1}'))
    client = HttpClient(url, connections=2)
    request = client.request_bytes("/api/v1/x", b'{"b":2}', (("idempotency-key", "k1"),))
    reply = await client.send(request)
    await client.aclose()
    assert reply.status == 200
    assert reply.body == b'{"a":1}'
    assert requests[0].startswith(b"POST /api/v1/x HTTP/1.1\r\nhost: 127.0.0.1:")
    assert b'\r\ncontent-length: 7\r\nidempotency-key: k1\r\n\r\n{"b":2}' in requests[0]


async def test_a_keep_alive_connection_is_reused(base: Start) -> None:
    url, _, connections = await base(ok(b"{}"))
    client = HttpClient(url, connections=4)
    request = client.request_bytes("/", b"{}")
    for _ in range(3):
        assert (await client.send(request)).status == 200
    await client.aclose()
    assert connections == [1, 1, 1]


async def test_a_closed_connection_is_replaced(base: Start) -> None:
    url, _, connections = await base(
        lambda _: b"HTTP/1.1 429 Too Many\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
    )
    client = HttpClient(url, connections=1)
    request = client.request_bytes("/", b"{}")
    statuses = [(await client.send(request)).status for _ in range(2)]
    await client.aclose()
    assert statuses == [429, 429]
    assert connections == [1, 2]


async def test_a_chunked_reply_is_joined(base: Start) -> None:
    url, _, _ = await base(
        lambda _: (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
        )
    )
    client = HttpClient(url, connections=1)
    reply = await client.send(client.request_bytes("/", b"{}"))
    await client.aclose()
    assert reply.body == b"abcde"


async def test_garbage_silence_and_no_server_are_errors(base: Start) -> None:
    garbage, _, _ = await base(lambda _: b"NOT HTTP AT ALL\r\n\r\n")
    silent, _, _ = await base(lambda _: b"")
    client = HttpClient(garbage, connections=1)
    with pytest.raises(HttpError, match="bad reply"):
        await client.send(client.request_bytes("/", b"{}"))
    client = HttpClient(silent, connections=1, timeout=0.2)
    with pytest.raises(HttpError, match="timed out"):
        await client.send(client.request_bytes("/", b"{}"))
    gone = HttpClient("http://127.0.0.1:9", connections=1)
    with pytest.raises(HttpError, match="cannot connect"):
        await gone.send(gone.request_bytes("/", b"{}"))
    with pytest.raises(ValueError, match="http://"):
        HttpClient("https://example.com", connections=1)
