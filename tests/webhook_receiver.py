"""Webhook test support: a real receiver on loopback (scripted answers, every request
kept), and the small helpers the integration and end-to-end webhook tests share."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sys
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from psycopg_pool import AsyncConnectionPool

from inlet_notifier.service import Event
from tests.polling import until


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


def event(workspace: str, type_: str = "record.created", **data: Any) -> Event:
    """A new event (fresh id) for `workspace`, happening now."""
    return Event(
        id=f"msg_{secrets.token_hex(12)}",
        workspace_id=workspace,
        type=type_,
        occur_time=datetime.now(UTC),
        data={"id": secrets.token_hex(4), **data},
    )


async def new_workspace(pool: AsyncConnectionPool[Any]) -> str:
    """A fresh workspace row (random slug); its id."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO workspaces (slug, display_name) VALUES (%s, 'w') RETURNING id",
            (f"w{secrets.token_hex(6)}",),
        )
        found = await cur.fetchone()
    assert found is not None
    return str(found[0])


@dataclass(frozen=True)
class Attempts:
    """What the attempts on some endpoints' deliveries add up to."""

    # Attempt rows of succeeded deliveries: the delivery count when each took one attempt.
    on_succeeded: int
    # Distinct worker ids (host:pid:random) that made them.
    workers: set[str]
    # Pairs of attempts on one delivery whose time spans overlap (never, under a lease).
    overlapping: int


async def all_recorded(
    pool: AsyncConnectionPool[Any], endpoint_ids: list[str], total: int, deadline: float = 30
) -> Attempts:
    """Wait until `total` deliveries to the endpoints are recorded as succeeded (a receiver
    has a request before the worker records its answer); then their attempts."""

    async def recorded() -> bool:
        async with pool.connection() as conn:
            cur = await conn.execute(
                "SELECT count(*) FROM webhook_deliveries"
                " WHERE endpoint_id = ANY(%s::uuid[]) AND status = 'succeeded'",
                (endpoint_ids,),
            )
            row = await cur.fetchone()
        return row is not None and row[0] == total

    await until(recorded, within=deadline, what=f"{total} deliveries recorded")
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) FILTER (WHERE d.status = 'succeeded'),"
            "       coalesce(array_agg(DISTINCT a.worker), '{}')"
            "  FROM webhook_deliveries d JOIN webhook_attempts a ON a.delivery_id = d.id"
            " WHERE d.endpoint_id = ANY(%s::uuid[])",
            (endpoint_ids,),
        )
        succeeded, workers = await cur.fetchone() or (0, [])
        cur = await conn.execute(
            "SELECT count(*) FROM webhook_attempts a JOIN webhook_attempts b"
            "  ON a.delivery_id = b.delivery_id AND a.id < b.id"
            "   AND tstzrange(a.start_time, a.end_time) && tstzrange(b.start_time, b.end_time)"
            " JOIN webhook_deliveries d ON d.id = a.delivery_id"
            " WHERE d.endpoint_id = ANY(%s::uuid[])",
            (endpoint_ids,),
        )
        overlapping = await cur.fetchone()
    assert overlapping is not None
    return Attempts(on_succeeded=succeeded, workers=set(workers), overlapping=overlapping[0])


async def start_notifier(
    database_url: str,
    port_file: Path,
    env: Mapping[str, str],
    *,
    stderr: int = asyncio.subprocess.DEVNULL,
    name: str = "notifier",
) -> asyncio.subprocess.Process:
    """`python -m inlet_notifier` on `database_url` (any free port, `env` on top); returned
    once it has bound its port (written to `port_file`). Killed if it never does."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "inlet_notifier",
        env={
            **os.environ,
            "INLET_DATABASE_URL": database_url,
            "INLET_GRPC_ADDR": "127.0.0.1:0",
            "INLET_PORT_FILE": str(port_file),
            **env,
        },
        stderr=stderr,
    )
    try:
        deadline = time.monotonic() + 30
        while not await asyncio.to_thread(port_file.exists):
            assert process.returncode is None, f"{name} exited with {process.returncode}"
            assert time.monotonic() < deadline, f"{name} never bound its port"
            await asyncio.sleep(0.05)
    except BaseException:
        if process.returncode is None:
            process.kill()
        await process.wait()
        raise
    return process
