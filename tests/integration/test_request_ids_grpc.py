"""Request ids for direct gRPC callers: an id is made only when the call brings none, it
comes back in the trailers, and a caller's own ids are the ones logged."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from inlet_common.errors import reason_of, status_from_rpc_error
from inlet_devstack.demo import DemoSeed, bearer
from tests.integration.conftest import Servers
from tests.messages import activity, push_request, stream_request
from tests.stream_support import (
    SEED_BATCH,
    StreamServers,
    own_database,
    sales_stream,
    seed_workspace,
    stream_servers,
)

OUR_ID = re.compile(r"req_[a-z2-7]{26}")


@pytest.fixture(scope="module")
async def ss(server_url: str) -> AsyncIterator[StreamServers]:
    """Stream servers on a database of this module's own (no other test's workers)."""
    name = f"inlet_ids_{secrets.token_hex(4)}"
    async with own_database(server_url, name) as pool, stream_servers(pool) as servers:
        yield servers


async def test_a_call_without_an_id_gets_one_made_and_sent_back(
    servers: Servers, seeded: DemoSeed
) -> None:
    call = servers.ingest.PushEndpoint(
        push_request(seeded.tokens["contact"], {"fields": {"email": "grpc@acme.no"}})
    )
    await call

    request_id = dict(await call.trailing_metadata())["x-request-id"]
    assert isinstance(request_id, str)  # a text key's value (only -bin keys carry bytes)
    assert OUR_ID.fullmatch(request_id)
    [entry] = [
        e for e in await activity(servers.admin, seeded, "contact") if e["status_code"] == 200
    ]
    assert entry["request_id"] == request_id
    assert "client_request_id" not in entry


async def test_a_callers_own_ids_are_used_and_logged(servers: Servers, seeded: DemoSeed) -> None:
    metadata = (("x-request-id", "caller-7"), ("x-client-request-id", "client-7"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await servers.ingest.PushEndpoint(
            push_request(seeded.tokens["contact"], {"fields": {"email": "nope"}}),
            metadata=metadata,
        )

    trailers: Any = caught.value.trailing_metadata()
    assert dict(trailers)["x-request-id"] == "caller-7"
    entries = await activity(servers.admin, seeded, "contact")
    assert [(e["request_id"], e["client_request_id"]) for e in entries] == [
        ("caller-7", "client-7")
    ]


async def test_a_stream_request_id_cannot_be_used_twice(ss: StreamServers) -> None:
    seed = await seed_workspace(ss, "ids")
    sales = await sales_stream(ss.admin, ss.streams, seed)
    metadata = (*bearer(sales.key), ("x-request-id", "caller-8"))

    first = await ss.ingest.IngestStream(stream_request(SEED_BATCH), metadata=metadata)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await ss.ingest.IngestStream(stream_request(SEED_BATCH[:1]), metadata=metadata)

    assert first.data.request_id == "caller-8"
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert reason_of(status_from_rpc_error(caught.value)) == "REQUEST_ID_IN_USE"
    async with ss.pool.connection() as conn:
        cur = await conn.execute("SELECT items_received FROM stream_requests WHERE id = 'caller-8'")
        assert await cur.fetchall() == [(3,)]
