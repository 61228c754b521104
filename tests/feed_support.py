"""Helpers of the live-feed tests: a stream with an ingest key and a read key, and a
Server-Sent Events reader over an httpx streaming response."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from inlet.admin.v1 import admin_pb2_grpc, streams_pb2, streams_pb2_grpc
from inlet_devstack.demo import DemoSeed
from tests.stream_support import SalesStream, sales_stream


@dataclass(frozen=True)
class FedStream:
    sales: SalesStream
    read_key: str
    read_key_name: str
    # The workspace admin token's metadata.
    auth: tuple[tuple[str, str]]


async def fed_stream(
    admin: admin_pb2_grpc.AdminServiceAsyncStub,
    streams: streams_pb2_grpc.StreamAdminServiceAsyncStub,
    seed: DemoSeed,
    **options: Any,
) -> FedStream:
    """A fresh sales stream with an ingest key and a read key."""
    sales = await sales_stream(admin, streams, seed, **options)
    made = await streams.CreateReadKey(
        streams_pb2.CreateReadKeyRequest(
            parent=sales.name, read_key=streams_pb2.ReadKey(display_name="renderer")
        ),
        metadata=seed.auth,
    )
    return FedStream(sales, made.secret, made.read_key.name, seed.auth)


@dataclass
class Event:
    """One SSE event: `comment` for a comment line (heartbeats), else its fields."""

    event: str = "message"
    id: str | None = None
    data: str = ""
    comment: str | None = None

    def json(self) -> Any:
        return orjson.loads(self.data)


@dataclass
class Events:
    """The events of one streaming response, read on demand."""

    response: httpx.Response
    _lines: AsyncIterator[str] = field(init=False)

    def __post_init__(self) -> None:
        self._lines = self.response.aiter_lines()

    async def next(self, within: float = 10.0) -> Event | None:
        """The next event (None when the stream ended); fails after `within` seconds."""
        return await asyncio.wait_for(self._next(), within)

    async def _next(self) -> Event | None:
        current = Event()
        seen = False
        async for line in self._lines:
            if line == "":
                if seen:
                    return current
                continue
            if line.startswith(":"):
                if not seen:
                    return Event(comment=line[1:].strip())
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            seen = True
            if name == "event":
                current.event = value
            elif name == "id":
                current.id = value
            elif name == "data":
                current.data = current.data + "\n" + value if current.data else value
            elif name == "retry":
                seen = False
        return current if seen else None

    async def changes(self, count: int, within: float = 10.0) -> list[Event]:
        """The next `count` change events, skipping heartbeats."""
        found: list[Event] = []
        while len(found) < count:
            got = await self.next(within)
            assert got is not None, f"the feed ended after {len(found)} of {count} changes"
            if got.comment is not None:
                continue
            assert got.event == "change", got
            found.append(got)
        return found


def read_headers(key: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **headers}
