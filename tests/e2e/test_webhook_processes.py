"""Two notifier processes on one database: every event delivered, no attempt doubled."""

from __future__ import annotations

import asyncio
import secrets
import signal
import tempfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool

from inlet_devstack import postgres
from inlet_notifier import app as notifier_app
from inlet_notifier.secrets_at_rest import KeyRing, new_key_ring
from inlet_notifier.service import Event, Webhooks
from inlet_notifier.webhook_endpoints import EndpointSpec
from inlet_store.migrations import migrate
from tests.polling import until
from tests.webhook_receiver import Receiver, all_recorded, new_workspace, receiving, start_notifier

pytestmark = pytest.mark.e2e

ENDPOINTS = 4
KEYS = new_key_ring()  # both processes and this test's Webhooks share it
EVENTS = 500  # x 4 endpoints = 2,000 deliveries
ENV = {
    "INLET_WEBHOOK_ALLOW_PRIVATE": "true",
    "INLET_WEBHOOK_POLL_SECONDS": "0.02",
    "INLET_WEBHOOK_PER_ENDPOINT": "16",
    "INLET_WEBHOOK_MAX_IN_FLIGHT": "32",
    "INLET_WEBHOOK_TIMEOUT_SECONDS": "5",
    "INLET_WEBHOOK_SECRET_KEYS": KEYS,
}


@pytest.fixture
async def database(server_url: str) -> AsyncIterator[str]:
    url = postgres.create_database(server_url, "inlet_two_notifiers")
    await migrate(url)
    yield url
    postgres.drop_database(url)


async def test_two_notifier_processes_deliver_2000_events_once_each(database: str) -> None:
    pool: AsyncConnectionPool[Any] = await notifier_app.open_pool(database, max_size=5)
    workdir = Path(tempfile.mkdtemp(prefix="inlet-two-notifiers-"))
    processes = []
    receiver: Receiver
    try:
        async with receiving() as receiver:
            workspace = await new_workspace(pool)
            webhooks = Webhooks(pool, keys=KeyRing.parse(KEYS), allow_private=True)
            endpoints = [
                (await webhooks.create_endpoint(workspace, EndpointSpec(url=receiver.script(p))))[0]
                for p in (f"/two{i}" for i in range(ENDPOINTS))
            ]
            processes = [
                await start_notifier(
                    database, workdir / f"{name}.port", ENV, name=f"notifier {name}"
                )
                for name in ("one", "two")
            ]
            sent = [
                Event(
                    id=f"msg_{secrets.token_hex(12)}",
                    workspace_id=workspace,
                    type="record.created",
                    occur_time=datetime.now(UTC),
                    data={"n": n},
                )
                for n in range(EVENTS)
            ]
            for start in range(0, EVENTS, 250):
                await webhooks.publish(sent[start : start + 250])
            total = EVENTS * ENDPOINTS
            await until(lambda: len(receiver.received) >= total, within=120, what="2000 deliveries")
            for i in range(ENDPOINTS):
                got = sorted(r.webhook_id for r in receiver.at(f"/two{i}"))
                assert got == sorted(e.id for e in sent)
        ids = [str(e["id"]) for e in endpoints]
        attempts = await all_recorded(pool, ids, total)
        assert attempts.on_succeeded == total
        # Both processes took part (the pid is the worker id's second part).
        assert len({worker.split(":")[1] for worker in attempts.workers}) == 2
        assert attempts.overlapping == 0
    finally:
        for process in processes:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            await asyncio.wait_for(process.wait(), 30)
        await pool.close()
