"""kill -9 of the matcher (the worker process) while an integration request is processing:
after a new matcher takes the expired lease, every accepted item, with its related record,
has been applied exactly once."""

from __future__ import annotations

import secrets
import signal
import tempfile
from pathlib import Path

import httpx
import pytest

from inlet.admin.v1 import admin_pb2_grpc
from inlet_common.channels import channel
from inlet_devstack import demo, postgres
from inlet_devstack.ports import Ports
from inlet_devstack.stack import running
from tests import external_support as ext
from tests.external_support import ORDER, PERSON, one
from tests.polling import until

pytestmark = pytest.mark.e2e

# The workers apply a request's items in chunks of this many (inlet_matcher.worker).
CHUNK = 1000
HELD_CHUNKS = 1
ITEMS = 1500
MAPPING = {
    "items": "/orders",
    "fields": {"number": "/number", "total": "/total"},
    "related": {"customer": {"fields": {"email": "/email", "name": "/name"}}},
}


async def test_kill_9_mid_request_applies_every_item_exactly_once(server_url: str) -> None:
    url = postgres.create_database(server_url, f"inlet_ext_crash_{secrets.token_hex(4)}")
    logs = Path(tempfile.mkdtemp(prefix="inlet-ext-crash-logs-"))
    # A short lease so the dead matcher's claim comes back quickly; small chunks so that
    # the request is cut off between two committed ones.
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
                await ext.ensure_type(admin, seed, PERSON)
                order_type = await ext.ensure_type(admin, seed, ORDER)
                integrations = ext.stub(ch)
                token = await ext.project_token(integrations, seed)
                await ext.integration(
                    integrations, seed, "orders", "MAPPING", "order", mapping=MAPPING
                )
            body = {
                "orders": [
                    {
                        "number": f"o{i:05d}",
                        "total": i,
                        "email": f"c{i:05d}@acme.no",
                        "name": f"Customer {i}",
                    }
                    for i in range(ITEMS)
                ]
            }
            async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
                answer = await http.post(
                    "/api/v1/external/data-ingestion/orders", json=body, headers=token.headers()
                )
            assert answer.status_code == 202, answer.text
            request_id = answer.headers["x-request-id"]
            count_items = "SELECT count(*) FROM stream_request_items WHERE request_id = %s"

            held = release.with_name("release.held")
            await until(held.exists, within=60, what="the worker to be held")
            matcher = stack.services["matcher"]
            matcher.process.send_signal(signal.SIGKILL)
            await matcher.process.wait()
            done_at_kill = await one(url, count_items, request_id)
            assert done_at_kill == HELD_CHUNKS * CHUNK
            assert 0 < done_at_kill < ITEMS, "the request must be cut off mid-way"

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

            await until(completed, within=120)
            assert await one(url, count_items, request_id) == ITEMS
            created = await one(
                url,
                "SELECT count(DISTINCT record_id) FROM stream_request_items"
                " WHERE request_id = %s AND action = 'created'",
                request_id,
            )
            assert created == ITEMS
            orders = await one(
                url, "SELECT count(*) FROM records WHERE entity_type_id = %s", order_type
            )
            assert orders == ITEMS
            # Each related customer once, each order pointing at its own.
            customers = await one(
                url,
                "SELECT count(DISTINCT data->>'customer') FROM records WHERE entity_type_id = %s",
                order_type,
            )
            assert customers == ITEMS
            people = await one(
                url,
                "SELECT count(*) FROM records r JOIN entity_types t ON t.id = r.entity_type_id"
                " WHERE t.slug = 'person'",
            )
            assert people == ITEMS
            assert (
                await one(url, "SELECT attempts FROM stream_requests WHERE id = %s", request_id)
                >= 2
            )
    finally:
        postgres.drop_database(url)
