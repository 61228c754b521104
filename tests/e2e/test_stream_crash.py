"""kill -9 of the matcher while a large stream batch is processing: after a new matcher
takes the expired lease, every accepted item has ended in a record exactly once."""

from __future__ import annotations

import secrets
import signal
import tempfile
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from inlet.admin.v1 import admin_pb2_grpc, streams_pb2_grpc
from inlet_common.channels import channel
from inlet_devstack import demo, postgres
from inlet_devstack.ports import Ports
from inlet_devstack.stack import running
from tests.messages import bearer_header
from tests.polling import until
from tests.stream_support import sales_stream

pytestmark = pytest.mark.e2e

# The workers apply a request's items in chunks of this many (inlet_matcher.worker).
CHUNK = 1000
HELD_CHUNKS = 1
ITEMS = 1500


async def one(url: str, sql: str, *params: Any) -> Any:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute(sql, params)
        row = await cur.fetchone()
        return row[0] if row else None


async def test_kill_9_mid_batch_loses_and_duplicates_nothing(server_url: str) -> None:
    url = postgres.create_database(server_url, f"inlet_crash_{secrets.token_hex(4)}")
    logs = Path(tempfile.mkdtemp(prefix="inlet-crash-logs-"))
    # A short lease so the dead matcher's claim comes back quickly.
    # One worker, held after HELD_CHUNKS chunks (a test-only hook, inlet_matcher.hold): the
    # kill lands mid-way every time, and no second worker of the held matcher takes the
    # expired lease.
    release = logs / "release"
    env = {
        "INLET_STREAM_LEASE_SECONDS": "1",
        "INLET_STREAM_WORKERS": "1",
        "INLET_TEST_HOLD_AFTER_CHUNKS": str(HELD_CHUNKS),
        "INLET_TEST_HOLD_FILE": str(release),
    }
    try:
        # The test kills the matcher and starts the next one itself: no supervisor.
        async with running(
            url, ports=Ports(0, 0, 0, 0), log_dir=logs, extra_env=env, supervise=False
        ) as stack:
            async with channel(stack.address("store")) as ch:
                admin = admin_pb2_grpc.AdminServiceStub(ch)
                seed = await demo.seed(admin, bootstrap_token=stack.bootstrap_token)
                sales = await sales_stream(admin, streams_pb2_grpc.StreamAdminServiceStub(ch), seed)
            batch = [{"region": f"r{i:05d}", "revenue": i} for i in range(ITEMS)]
            async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
                answer = await http.post(
                    "/api/ingest", json=batch, headers=bearer_header(sales.key)
                )
            assert answer.status_code == 202, answer.text
            request_id = answer.json()["data"]["request_id"]
            count_items = "SELECT count(*) FROM stream_request_items WHERE request_id = %s"

            held = release.with_name("release.held")
            await until(held.exists, within=60, what="the worker to be held")
            matcher = stack.services["matcher"]
            matcher.process.send_signal(signal.SIGKILL)
            await matcher.process.wait()
            done_at_kill = await one(url, count_items, request_id)
            assert done_at_kill == HELD_CHUNKS * CHUNK
            assert 0 < done_at_kill < ITEMS, "the batch must be cut off mid-way"

            await stack.start_service(
                "matcher",
                0,
                "127.0.0.1",
                {
                    "INLET_GRPC_ADDR": "127.0.0.1:0",
                    "INLET_STORE_ADDR": stack.address("store"),
                    "INLET_STREAM_WORKERS": "2",
                    "INLET_TEST_HOLD_AFTER_CHUNKS": "0",
                },
            )

            async def completed() -> bool:
                status = await one(
                    url, "SELECT status FROM stream_requests WHERE id = %s", request_id
                )
                return bool(status == "completed")

            await until(completed, within=90)
            assert await one(url, count_items, request_id) == ITEMS
            created = await one(
                url,
                "SELECT count(DISTINCT record_id) FROM stream_request_items"
                " WHERE request_id = %s AND action = 'created'",
                request_id,
            )
            assert created == ITEMS
            records = await one(
                url, "SELECT count(*) FROM records WHERE entity_type_id = %s", sales.entity_type_id
            )
            assert records == ITEMS
            attempts = await one(
                url, "SELECT attempts FROM stream_requests WHERE id = %s", request_id
            )
            assert attempts >= 2
    finally:
        postgres.drop_database(url)
