"""Signed webhook deliveries per second: the notifier's worker to a loopback receiver.

Runs in a database of its own (the suite's notifier refuses loopback targets and must
not claim these rows): N events are published, then one worker delivers them; the
clock runs from the worker's start to the receiver's N-th verified-shape request.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from datetime import UTC, datetime

from aiohttp import web

from bench.scenario import Result
from inlet_devstack import postgres
from inlet_notifier import app as notifier_app
from inlet_notifier.config import DeliverySettings
from inlet_notifier.delivery import Worker
from inlet_notifier.secrets_at_rest import KeyRing, new_key_ring
from inlet_notifier.service import EndpointSpec, Event, Webhooks
from inlet_store.migrations import migrate

ENDPOINTS = 4


class WebhookDeliveries:
    """`deliveries` signed POSTs over ENDPOINTS endpoints, `in_flight` at a time."""

    def __init__(self, database_url: str, deliveries: int, *, in_flight: int = 64) -> None:
        self.name = "webhook deliveries (signed, loopback)"
        self.database_url = database_url
        self.deliveries = deliveries
        self.in_flight = in_flight

    async def run(self) -> Result:
        url = postgres.create_database(self.database_url, "inlet_bench_webhooks")
        try:
            await migrate(url)
            return await self._measure(url)
        finally:
            postgres.drop_database(url)

    async def _measure(self, url: str) -> Result:
        arrived: list[float] = []
        done = asyncio.Event()

        async def receive(request: web.Request) -> web.Response:
            await request.read()
            if "webhook-signature" in request.headers:
                arrived.append(time.perf_counter())
                if len(arrived) >= self.deliveries:
                    done.set()
            return web.Response(text="ok")

        receiver = web.Application()
        receiver.router.add_post("/{tail:.*}", receive)
        runner = web.AppRunner(receiver, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        pool = await notifier_app.open_pool(url, max_size=20)
        worker: Worker | None = None
        try:
            async with pool.connection() as conn:
                cur = await conn.execute(
                    "INSERT INTO workspaces (slug, display_name) VALUES (%s, 'bench') RETURNING id",
                    (f"b{secrets.token_hex(4)}",),
                )
                workspace = str((await cur.fetchone() or [""])[0])
            keys = KeyRing.parse(new_key_ring())
            webhooks = Webhooks(pool, keys=keys, allow_private=True)
            for i in range(ENDPOINTS):
                spec = EndpointSpec(url=f"http://127.0.0.1:{port}/hook{i}")
                await webhooks.create_endpoint(workspace, spec)
            per_endpoint = -(-self.deliveries // ENDPOINTS)
            events = [
                Event(
                    id=f"msg_{secrets.token_hex(12)}",
                    workspace_id=workspace,
                    type="record.created",
                    occur_time=datetime.now(UTC),
                    data={"id": str(i), "fields": {"email": f"b{i}@example.com"}},
                )
                for i in range(per_endpoint)
            ]
            for start in range(0, len(events), 500):
                await webhooks.publish(events[start : start + 500])
            settings = DeliverySettings(
                allow_private=True,
                poll=0.01,
                max_in_flight=self.in_flight,
                per_endpoint=self.in_flight,
            )
            started = time.perf_counter()
            worker = Worker(pool, settings, keys=keys)
            worker.start()
            await asyncio.wait_for(done.wait(), timeout=300)
            elapsed = arrived[self.deliveries - 1] - started
            async with pool.connection() as conn:
                cur = await conn.execute("SELECT latency_ms FROM webhook_attempts")
                latencies = [r[0] / 1000 for r in await cur.fetchall()]
        finally:
            if worker is not None:
                await worker.stop()
            await pool.close()
            await runner.cleanup()
        return Result(
            name=self.name,
            operations=self.deliveries,
            elapsed=elapsed,
            latencies=latencies,
        )
