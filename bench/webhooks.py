"""Signed webhook deliveries per second, event → receipt: events written to the outbox as
the store writes them, taken and delivered by a notifier process to a loopback receiver.

Runs in a database of its own with a notifier of its own (the suite's refuses loopback
targets and must not take these rows). Two lines: a backlog (every event committed at
once; the clock runs from that commit to the receiver's last verified-shape request), and
a steady offered rate (events committed every 10 ms; each sample is commit → receipt).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import psycopg
from aiohttp import web

from bench.cpu import CpuProbe
from bench.scenario import Result
from inlet_devstack import postgres
from inlet_notifier import app as notifier_app
from inlet_notifier.secrets_at_rest import KeyRing, new_key_ring
from inlet_notifier.service import Webhooks
from inlet_notifier.webhook_endpoints import EndpointSpec
from inlet_store.migrations import migrate

ENDPOINTS = 4
TICK_SECONDS = 0.01

_INSERT = (
    "INSERT INTO outbox_events (workspace_id, type, data)"
    " SELECT %s, 'record.created', d FROM unnest(%s::json[]) AS d"
)


class Receiver:
    """Counts signed requests and how long after its event's commit each arrived."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.arrived: list[float] = []
        self.latencies: list[float] = []
        self.done = asyncio.Event()

    async def receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        if "webhook-signature" in request.headers:
            now = time.time()
            self.arrived.append(time.perf_counter())
            self.latencies.append(now - float(orjson.loads(body)["data"]["t"]))
            if len(self.arrived) >= self.expected:
                self.done.set()
        return web.Response(text="ok")


class WebhookDeliveries:
    """`deliveries` signed POSTs over ENDPOINTS endpoints (each event goes to all of them):
    as a backlog, or offered at `rate` deliveries/s for `seconds`."""

    def __init__(
        self,
        database_url: str,
        deliveries: int,
        *,
        in_flight: int = 64,
        rate: int = 0,
        seconds: float = 5.0,
    ) -> None:
        self.rate = rate
        self.name = (
            f"webhooks event→receipt @{rate}/s" if rate else "webhook deliveries (signed, loopback)"
        )
        self.database_url = database_url
        self.deliveries = max(ENDPOINTS, int(rate * seconds)) if rate else deliveries
        self.seconds = seconds
        self.in_flight = in_flight

    async def run(self) -> Result:
        url = postgres.create_database(self.database_url, "inlet_bench_webhooks")
        try:
            await migrate(url)
            return await self._measure(url)
        finally:
            postgres.drop_database(url)

    async def _measure(self, url: str) -> Result:
        events = -(-self.deliveries // ENDPOINTS)
        receiver = Receiver(events * ENDPOINTS)
        app = web.Application()
        app.router.add_post("/{tail:.*}", receiver.receive)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        ring = new_key_ring()
        pool = await notifier_app.open_pool(url, max_size=4)
        notifier: asyncio.subprocess.Process | None = None
        try:
            async with pool.connection() as conn:
                cur = await conn.execute(
                    "INSERT INTO workspaces (slug, display_name) VALUES (%s, 'bench') RETURNING id",
                    (f"b{secrets.token_hex(4)}",),
                )
                workspace = str((await cur.fetchone() or [""])[0])
            webhooks = Webhooks(pool, keys=KeyRing.parse(ring), allow_private=True)
            for i in range(ENDPOINTS):
                spec = EndpointSpec(url=f"http://127.0.0.1:{port}/hook{i}")
                await webhooks.create_endpoint(workspace, spec)
            notifier = await _start_notifier(url, ring, self.in_flight)
            probe = CpuProbe({"bench": os.getpid(), "notifier": notifier.pid})
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                before = probe.snapshot()
                started = time.perf_counter()
                if self.rate:
                    await self._offer(conn, workspace, events)
                else:
                    await _insert(conn, workspace, events)
                    started = time.perf_counter()
                await asyncio.wait_for(receiver.done.wait(), timeout=300)
                after = probe.snapshot()
        finally:
            if notifier is not None:
                notifier.terminate()
                await notifier.wait()
            await pool.close()
            await runner.cleanup()
        return Result(
            name=self.name,
            operations=len(receiver.arrived),
            elapsed=receiver.arrived[-1] - started,
            latencies=receiver.latencies,
            cpu=CpuProbe.since(before, after),
        )

    async def _offer(self, conn: psycopg.AsyncConnection[Any], workspace: str, events: int) -> None:
        """Commit events every tick, as many as the offered rate says by then."""
        per_second = self.rate / ENDPOINTS
        clock = time.perf_counter()
        sent = 0
        while sent < events:
            due = min(events, int((time.perf_counter() - clock) * per_second) + 1)
            if due > sent:
                await _insert(conn, workspace, due - sent)
                sent = due
            await asyncio.sleep(TICK_SECONDS)


async def _insert(conn: psycopg.AsyncConnection[Any], workspace: str, count: int) -> None:
    now = time.time()
    datas = [
        orjson.dumps({"id": secrets.token_hex(8), "t": now, "fields": {"n": i}}).decode()
        for i in range(count)
    ]
    await conn.execute(_INSERT, (workspace, datas))


async def _start_notifier(url: str, ring: str, in_flight: int) -> asyncio.subprocess.Process:
    port_file = Path(tempfile.mkdtemp(prefix="inlet-bench-notifier-")) / "port"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "inlet_notifier",
        env={
            **os.environ,
            "INLET_DATABASE_URL": url,
            "INLET_GRPC_ADDR": "127.0.0.1:0",
            "INLET_PORT_FILE": str(port_file),
            "INLET_WEBHOOK_SECRET_KEYS": ring,
            "INLET_WEBHOOK_ALLOW_PRIVATE": "true",
            "INLET_WEBHOOK_MAX_IN_FLIGHT": str(in_flight),
            "INLET_WEBHOOK_PER_ENDPOINT": str(in_flight),
            "INLET_LOG_LEVEL": "WARNING",
        },
        stderr=asyncio.subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not port_file.exists():
        if process.returncode is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("the bench's notifier did not start")
        await asyncio.sleep(0.05)
    return process
