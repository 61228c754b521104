"""A webhook receiver on loopback that keeps every delivery (its webhook-id and event)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import orjson
from aiohttp import web

from bench.mixed.ledger import Delivery


@dataclass
class Receiver:
    url: str = ""
    deliveries: list[Delivery] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            event = orjson.loads(body)
        except orjson.JSONDecodeError:
            return web.Response(status=400)
        data = event.get("data") if isinstance(event, dict) else None
        self.deliveries.append(
            Delivery(
                request.headers.get("webhook-id", ""),
                str(event.get("type", "")) if isinstance(event, dict) else "",
                data if isinstance(data, dict) else {},
            )
        )
        return web.Response(text="ok")


@contextlib.asynccontextmanager
async def receiving() -> AsyncIterator[Receiver]:
    """A receiver on 127.0.0.1 (a free port) for as long as the block runs."""
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None
    port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    receiver.url = f"http://127.0.0.1:{port}/hooks"
    try:
        yield receiver
    finally:
        await runner.cleanup()
