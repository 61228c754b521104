"""Two notifier processes on one database: every event delivered, no attempt doubled."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool

from inlet_devstack import postgres
from inlet_notifier import app as notifier_app
from inlet_notifier.secrets_at_rest import KeyRing, new_key_ring
from inlet_notifier.service import EndpointSpec, Event, Webhooks
from inlet_store.migrations import migrate
from tests.webhook_receiver import Receiver, receiving, until

pytestmark = pytest.mark.e2e

ENDPOINTS = 4
KEYS = new_key_ring()  # both processes and this test's Webhooks share it
EVENTS = 500  # x 4 endpoints = 2,000 deliveries


@pytest.fixture
async def database(server_url: str) -> AsyncIterator[str]:
    url = postgres.create_database(server_url, "inlet_two_notifiers")
    await migrate(url)
    yield url
    postgres.drop_database(url)


async def start_notifier(database_url: str, workdir: Path, name: str) -> Any:
    port_file = workdir / f"{name}.port"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "inlet_notifier",
        env={
            **os.environ,
            "INLET_DATABASE_URL": database_url,
            "INLET_GRPC_ADDR": "127.0.0.1:0",
            "INLET_PORT_FILE": str(port_file),
            "INLET_WEBHOOK_ALLOW_PRIVATE": "true",
            "INLET_WEBHOOK_POLL_SECONDS": "0.02",
            "INLET_WEBHOOK_PER_ENDPOINT": "16",
            "INLET_WEBHOOK_MAX_IN_FLIGHT": "32",
            "INLET_WEBHOOK_TIMEOUT_SECONDS": "5",
            "INLET_WEBHOOK_SECRET_KEYS": KEYS,
        },
        stderr=asyncio.subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not port_file.exists():
        assert process.returncode is None, f"notifier {name} exited with {process.returncode}"
        assert time.monotonic() < deadline, f"notifier {name} never bound its port"
        await asyncio.sleep(0.05)
    return process


async def test_two_notifier_processes_deliver_2000_events_once_each(database: str) -> None:
    pool: AsyncConnectionPool[Any] = await notifier_app.open_pool(database, max_size=5)
    workdir = Path(tempfile.mkdtemp(prefix="inlet-two-notifiers-"))
    processes = []
    receiver: Receiver
    try:
        async with receiving() as receiver:
            async with pool.connection() as conn:
                cur = await conn.execute(
                    "INSERT INTO workspaces (slug, display_name) VALUES (%s, 'w') RETURNING id",
                    (f"w{secrets.token_hex(6)}",),
                )
                row = await cur.fetchone()
            assert row is not None
            workspace = str(row[0])
            webhooks = Webhooks(pool, keys=KeyRing.parse(KEYS), allow_private=True)
            endpoints = [
                (await webhooks.create_endpoint(workspace, EndpointSpec(url=receiver.script(p))))[0]
                for p in (f"/two{i}" for i in range(ENDPOINTS))
            ]
            processes = [
                await start_notifier(database, workdir, "one"),
                await start_notifier(database, workdir, "two"),
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
            await until(
                lambda: len(receiver.received) >= total, deadline=120, what="2000 deliveries"
            )
            for i in range(ENDPOINTS):
                got = sorted(r.webhook_id for r in receiver.at(f"/two{i}"))
                assert got == sorted(e.id for e in sent)
        ids = [str(e["id"]) for e in endpoints]

        async def all_recorded() -> bool:
            # A receiver has the request before the worker records its answer.
            async with pool.connection() as conn:
                cur = await conn.execute(
                    "SELECT count(*) FROM webhook_deliveries"
                    " WHERE endpoint_id = ANY(%s::uuid[]) AND status = 'succeeded'",
                    (ids,),
                )
                row = await cur.fetchone()
            return row is not None and row[0] == total

        await until(all_recorded, deadline=30, what="2000 deliveries recorded")
        async with pool.connection() as conn:
            cur = await conn.execute(
                "SELECT count(*) FILTER (WHERE d.status = 'succeeded'),"
                "       count(DISTINCT split_part(a.worker, ':', 2))"
                "  FROM webhook_deliveries d JOIN webhook_attempts a ON a.delivery_id = d.id"
                " WHERE d.endpoint_id = ANY(%s::uuid[])",
                (ids,),
            )
            succeeded, process_count = await cur.fetchone() or (0, 0)
            cur = await conn.execute(
                "SELECT count(*) FROM webhook_attempts a JOIN webhook_attempts b"
                "  ON a.delivery_id = b.delivery_id AND a.id < b.id"
                "   AND tstzrange(a.start_time, a.end_time) && tstzrange(b.start_time, b.end_time)"
                " JOIN webhook_deliveries d ON d.id = a.delivery_id"
                " WHERE d.endpoint_id = ANY(%s::uuid[])",
                (ids,),
            )
            overlapping = await cur.fetchone()
        assert succeeded == total
        assert process_count == 2  # both processes (pid in the worker id) took part
        assert overlapping == (0,)
    finally:
        for process in processes:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            await asyncio.wait_for(process.wait(), 30)
        await pool.close()
