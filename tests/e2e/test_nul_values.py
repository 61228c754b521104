"""Values PostgreSQL cannot hold as text (\\u0000) are a 400, never a 500, and a refused
request that holds one is still in the activity and connector logs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from inlet.admin.v1 import admin_pb2, admin_pb2_grpc, streams_pb2, streams_pb2_grpc
from inlet_common.channels import channel
from inlet_devstack.demo import DemoSeed
from inlet_devstack.stack import Stack
from tests.messages import as_dict
from tests.stream_support import SalesStream, sales_stream

pytestmark = pytest.mark.e2e

JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
async def streams_admin(stack: Stack) -> AsyncIterator[Any]:
    async with channel(stack.address("store")) as ch:
        yield streams_pb2_grpc.StreamAdminServiceStub(ch)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b'{"fields": {"name": "a\\u0000b"}}', 400),  # NUL_CHARACTER, naming fields.name
        (b'{"fields": {"email": "a\\u0000b@x.io"}}', 400),
        (b'{"fields": {"na\\u0000me": "x"}}', 400),
        (b'{"fields": {"name": "x"}, "related": {"con\\u0000tact": {"name": "y"}}}', 400),
    ],
)
async def test_nul_in_a_push_is_never_a_500_and_always_logged(
    http: httpx.AsyncClient,
    seeded: DemoSeed,
    admin: admin_pb2_grpc.AdminServiceAsyncStub,
    body: bytes,
    status: int,
) -> None:
    reply = await http.post(
        f"/api/v1/ingest/{seeded.tokens['contact']}", content=body, headers=JSON
    )
    assert reply.status_code == status, reply.text
    log = await admin.ListActivityEntries(
        admin_pb2.ListActivityEntriesRequest(parent=seeded.endpoints["contact"], page_size=5),
        metadata=seeded.auth,
    )
    entries = [as_dict(e) for e in log.activity_entries]
    assert entries[0]["request_id"] == reply.headers["x-request-id"]
    assert entries[0]["status_code"] == status


async def test_nul_in_a_stream_item_is_never_a_500_and_always_logged(
    http: httpx.AsyncClient,
    seeded: DemoSeed,
    admin: admin_pb2_grpc.AdminServiceAsyncStub,
    streams_admin: Any,
) -> None:
    sales: SalesStream = await sales_stream(admin, streams_admin, seeded)
    headers = {**JSON, "authorization": f"Bearer {sales.key}"}
    reply = await http.post(
        "/api/ingest", content=b'[{"region": "N", "reve\\u0000nue": 1}]', headers=headers
    )
    assert reply.status_code == 400, reply.text
    log = await streams_admin.ListConnectorLogEntries(
        streams_pb2.ListConnectorLogEntriesRequest(parent=sales.name, page_size=5),
        metadata=seeded.auth,
    )
    entries = [as_dict(e) for e in log.connector_log_entries]
    assert entries[0]["request_id"] == reply.headers["x-request-id"]
    assert entries[0]["status_code"] == 400
