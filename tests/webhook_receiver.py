"""A real webhook receiver on loopback for tests: scripted answers, every request kept."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiohttp import web


@dataclass(frozen=True)
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    # Hold the request open until the receiver is released (a hung endpoint).
    hang: bool = False


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


class Receiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.scripts: dict[str, list[Answer]] = {}
        self.default: dict[str, Answer] = {}
        self.release = asyncio.Event()
        self.open_now: dict[str, int] = {}
        self.open_max: dict[str, int] = {}
        self.url = ""

    def script(self, path: str, *answers: Answer, then: Answer | None = None) -> str:
        """Answer `path`'s requests in this order, then `then` (default 200); its URL."""
        self.scripts[path] = list(answers)
        if then is not None:
            self.default[path] = then
        return self.url + path

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        path = request.path
        self.received.append(
            Received(path, {k.lower(): v for k, v in request.headers.items()}, body, time.time())
        )
        self.open_now[path] = self.open_now.get(path, 0) + 1
        self.open_max[path] = max(self.open_max.get(path, 0), self.open_now[path])
        try:
            script = self.scripts.get(path)
            answer = script.pop(0) if script else self.default.get(path, Answer())
            if answer.hang:
                await self.release.wait()
            return web.Response(status=answer.status, headers=answer.headers, text="ok")
        finally:
            self.open_now[path] -= 1


@contextlib.asynccontextmanager
async def receiving() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None
    port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    receiver.url = f"http://127.0.0.1:{port}"
    try:
        yield receiver
    finally:
        receiver.release.set()
        await runner.cleanup()


async def until(predicate: object, deadline: float = 15.0, what: str = "condition") -> None:
    """Poll `predicate()` (sync or async) until true or the deadline passes."""
    end = time.monotonic() + deadline
    while True:
        result = predicate()  # type: ignore[operator]
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
