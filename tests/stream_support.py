"""Helpers shared by the stream-ingest tests: in-process servers on a database of the test
module's own, a "sales" stream and its ingest key, and a request's status once it is done
(over gRPC or HTTP)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from inlet.admin.v1 import admin_pb2, admin_pb2_grpc, streams_pb2, streams_pb2_grpc
from inlet.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from inlet.store.v1 import store_pb2_grpc
from inlet.type.v1 import entity_pb2
from inlet_common.channels import channel
from inlet_common.listen import Listener
from inlet_devstack import demo, postgres
from inlet_devstack.demo import DemoSeed, bearer
from inlet_matcher import app as matcher_app
from inlet_matcher.judged import JudgedItems
from inlet_matcher.service import Ingest
from inlet_matcher.store_client import GrpcStore
from inlet_matcher.stream import GrpcStreamStore, StreamIngest
from inlet_matcher.worker import Workers
from inlet_store import app as store_app
from inlet_store.inbox.waiting import Wakeups
from inlet_store.migrations import migrate
from tests.messages import as_dict, key_headers
from tests.polling import until

F = entity_pb2.Field
SALES = entity_pb2.EntityType(
    slug="sales",
    display_name="Sales",
    fields=[
        F(slug="region", display_name="Region", type=entity_pb2.FIELD_TYPE_TEXT),
        F(slug="revenue", display_name="Revenue", type=entity_pb2.FIELD_TYPE_NUMBER),
        F(slug="target", display_name="Target", type=entity_pb2.FIELD_TYPE_NUMBER),
        F(slug="updated_at", display_name="Updated", type=entity_pb2.FIELD_TYPE_DATETIME),
    ],
)

# A member is matched on its e-mail and needs a name only when it is new: whether an item
# without one fails depends on the records there are, so it is judged after the 202.
MEMBER = entity_pb2.EntityType(
    slug="member",
    display_name="Member",
    fields=[
        entity_pb2.Field(slug="name", type=entity_pb2.FIELD_TYPE_TEXT, required=True),
        entity_pb2.Field(slug="email", type=entity_pb2.FIELD_TYPE_EMAIL, unique=True),
    ],
)

SEED_SINGLE = {
    "region": "North",
    "revenue": 142000,
    "target": 130000,
    "updated_at": "2026-04-06T10:30:00Z",
}
SEED_BATCH = [
    {"region": "North", "revenue": 142000, "target": 130000},
    {"region": "South", "revenue": 98000, "target": 110000},
    {"region": "East", "revenue": 156000, "target": 140000},
]


@dataclass
class StreamServers:
    admin: admin_pb2_grpc.AdminServiceAsyncStub
    streams: streams_pb2_grpc.StreamAdminServiceAsyncStub
    ingest: ingest_pb2_grpc.IngestServiceAsyncStub
    store: store_pb2_grpc.StoreServiceAsyncStub
    pool: AsyncConnectionPool[Any]
    bootstrap_token: str
    workers: Workers
    # What the store's LISTEN connection wakes: claims parked for work.
    wakeups: Wakeups | None = None


@asynccontextmanager
async def own_database(server_url: str, name: str) -> AsyncIterator[AsyncConnectionPool[Any]]:
    """A pool on a new, migrated database `name` on the server, dropped afterwards."""
    url = postgres.create_database(server_url, name)
    await migrate(url)
    pool = await store_app.open_pool(url, min_size=2, max_size=20)
    try:
        yield pool
    finally:
        await pool.close()
        postgres.drop_database(url)


def module_stream_fixtures(prefix: str) -> tuple[Any, Any]:
    """Module-scoped `own_pool` and `ss` fixtures: a database of the module's own (no other
    test's workers claim its requests), named after `prefix`, and the stream servers on it.
    In the test module: `own_pool, ss = module_stream_fixtures("inlet_claims")`."""

    @pytest.fixture(scope="module")
    async def own_pool(server_url: str) -> AsyncIterator[AsyncConnectionPool[Any]]:
        async with own_database(server_url, f"{prefix}_{secrets.token_hex(4)}") as pool:
            yield pool

    @pytest.fixture(scope="module")
    async def ss(own_pool: AsyncConnectionPool[Any]) -> AsyncIterator[StreamServers]:
        async with stream_servers(own_pool) as servers:
            yield servers

    return own_pool, ss


@asynccontextmanager
async def stream_servers(pool: AsyncConnectionPool[Any]) -> AsyncIterator[StreamServers]:
    """The store on `pool` (LISTENing for inbox requests, as it runs) and the matcher with
    two stream workers, on port 0, as stubs."""
    bootstrap = secrets.token_urlsafe(32)
    wakeups = Wakeups()
    assert isinstance(pool.conninfo, str)
    listener = Listener(pool.conninfo, {"inlet_inbox": wakeups.wake})
    listener.start()
    store = await store_app.start(pool, "127.0.0.1:0", bootstrap_token=bootstrap, wakeups=wakeups)
    store_channel = channel(f"127.0.0.1:{store.port}")
    stream_store = GrpcStreamStore(store_channel, 10.0)
    workers = Workers(
        stream_store,
        count=2,
        lease_seconds=30,
        poll_seconds=0.05,
        chunk_size=50,
        judged=JudgedItems(),
    )
    matcher = await matcher_app.start(
        Ingest(GrpcStore(store_channel, 10.0)),
        "127.0.0.1:0",
        streams=StreamIngest(stream_store, workers.wake, judged=workers.judged),
    )
    workers.start()
    ingest_channel = channel(f"127.0.0.1:{matcher.port}")
    try:
        yield StreamServers(
            admin=admin_pb2_grpc.AdminServiceStub(store_channel),
            streams=streams_pb2_grpc.StreamAdminServiceStub(store_channel),
            ingest=ingest_pb2_grpc.IngestServiceStub(ingest_channel),
            store=store_pb2_grpc.StoreServiceStub(store_channel),
            pool=pool,
            bootstrap_token=bootstrap,
            workers=workers,
            wakeups=wakeups,
        )
    finally:
        await workers.stop()
        await ingest_channel.close(grace=None)
        await matcher.stop(0)
        await store_channel.close(grace=None)
        await store.stop(0)
        await listener.stop()


async def seed_workspace(servers: StreamServers, prefix: str) -> DemoSeed:
    """The demo workspace, under a fresh slug starting with `prefix`, on the servers' store."""
    return await demo.seed(
        servers.admin,
        bootstrap_token=servers.bootstrap_token,
        workspace_slug=f"{prefix}{secrets.token_hex(6)}",
    )


@dataclass(frozen=True)
class SalesStream:
    name: str  # workspaces/{w}/streams/{s}
    slug: str
    key: str  # the whole ingest key
    key_name: str
    entity_type_id: str


async def sales_stream(
    admin: admin_pb2_grpc.AdminServiceAsyncStub,
    streams: streams_pb2_grpc.StreamAdminServiceAsyncStub,
    seed: DemoSeed,
    *,
    rate_limit: int = 0,
    rate_window_seconds: int = 0,
    entity_type: entity_pb2.EntityType = SALES,
) -> SalesStream:
    """A fresh stream on a "sales" entity type (created once per workspace) and a key."""
    try:
        made = await admin.CreateEntityType(
            admin_pb2.CreateEntityTypeRequest(parent=seed.workspace, entity_type=entity_type),
            metadata=seed.auth,
        )
        type_id = made.entity_type.id
    except grpc.aio.AioRpcError:  # already there: read it
        got = await admin.GetEntityType(
            admin_pb2.GetEntityTypeRequest(name=f"{seed.workspace}/entityTypes/{entity_type.slug}"),
            metadata=seed.auth,
        )
        type_id = got.entity_type.id
    slug = f"sales-{secrets.token_hex(3)}"
    stream = await streams.CreateStream(
        streams_pb2.CreateStreamRequest(
            parent=seed.workspace,
            stream_id=slug,
            stream=streams_pb2.Stream(entity_type=entity_type.slug, default_region="NO"),
        ),
        metadata=seed.auth,
    )
    key = await streams.CreateIngestKey(
        streams_pb2.CreateIngestKeyRequest(
            parent=stream.stream.name,
            ingest_key=streams_pb2.IngestKey(
                display_name="test", rate_limit=rate_limit, rate_window_seconds=rate_window_seconds
            ),
        ),
        metadata=seed.auth,
    )
    return SalesStream(stream.stream.name, slug, key.secret, key.ingest_key.name, type_id)


async def records_of(pool: AsyncConnectionPool[Any], entity_type_id: str) -> list[dict[str, Any]]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT id::text, data FROM records WHERE entity_type_id = %s ORDER BY create_time",
            (entity_type_id,),
        )
        return [{"id": r[0], **r[1]} for r in await cur.fetchall()]


async def finished(servers: StreamServers, key: str, request_id: str) -> dict[str, Any]:
    """The stream request's status over gRPC once it has completed or failed."""

    async def check() -> dict[str, Any] | None:
        got = await servers.ingest.GetIngestRequestStatus(
            ingest_pb2.GetIngestRequestStatusRequest(request_id=request_id), metadata=bearer(key)
        )
        data: dict[str, Any] = as_dict(got)["data"]
        return data if data["status"] in ("completed", "failed") else None

    found: dict[str, Any] = await until(check)
    return found


async def finished_over_http(http: httpx.AsyncClient, key: str, request_id: str) -> dict[str, Any]:
    """The stream request's status over HTTP once it has completed or failed."""

    async def check() -> dict[str, Any] | None:
        got = await http.get(f"/api/ingest/requests/{request_id}", headers=key_headers(key))
        assert got.status_code == 200, got.text
        data: dict[str, Any] = got.json()["data"]
        return data if data["status"] in ("completed", "failed") else None

    found: dict[str, Any] = await until(check)
    return found
