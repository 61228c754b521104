"""ExternalIngestService over gRPC, as an internal system calls it (no HTTP): the same
credentials in metadata, the body as google.api.HttpBody, the 202 as initial metadata, and
errors as google.rpc.Status with their reasons."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.api import httpbody_pb2
from psycopg_pool import AsyncConnectionPool

from inlet.admin.v1 import admin_pb2_grpc
from inlet.ingest.v1 import external_pb2, external_pb2_grpc
from inlet_common.channels import channel
from inlet_common.errors import reason_of, status_from_rpc_error
from inlet_devstack import demo
from inlet_matcher import app as matcher_app
from inlet_matcher.external import ExternalIngest
from inlet_matcher.service import Ingest
from inlet_matcher.store_client import GrpcStore
from inlet_matcher.stream import GrpcStreamStore, StreamIngest
from inlet_matcher.worker import Workers
from inlet_store import app as store_app
from tests import external_support as ext
from tests.external_support import ProjectToken
from tests.stream_support import own_database, until


@dataclass
class Servers:
    external: external_pb2_grpc.ExternalIngestServiceAsyncStub
    seed: demo.DemoSeed
    token: ProjectToken
    pool: AsyncConnectionPool[Any]


@pytest.fixture(scope="module")
async def servers(server_url: str) -> AsyncIterator[Servers]:
    async with own_database(server_url, f"inlet_ext_grpc_{secrets.token_hex(4)}") as pool:
        bootstrap = secrets.token_urlsafe(32)
        store = await store_app.start(pool, "127.0.0.1:0", bootstrap_token=bootstrap)
        store_channel = channel(f"127.0.0.1:{store.port}")
        stream_store = GrpcStreamStore(store_channel, 10.0)
        workers = Workers(stream_store, count=1, poll_seconds=0.05)
        matcher = await matcher_app.start(
            Ingest(GrpcStore(store_channel, 10.0)),
            "127.0.0.1:0",
            streams=StreamIngest(stream_store, workers.wake),
            external=ExternalIngest(stream_store, workers.wake),
        )
        workers.start()
        matcher_channel = channel(f"127.0.0.1:{matcher.port}")
        try:
            seed = await demo.seed(
                admin_pb2_grpc.AdminServiceStub(store_channel), bootstrap_token=bootstrap
            )
            integrations = ext.stub(store_channel)
            token = await ext.project_token(integrations, seed)
            await ext.integration(integrations, seed, "contacts", "GENERIC", "contact")
            yield Servers(
                external_pb2_grpc.ExternalIngestServiceStub(matcher_channel), seed, token, pool
            )
        finally:
            await workers.stop()
            await matcher_channel.close(grace=None)
            await matcher.stop(0)
            await store_channel.close(grace=None)
            await store.stop(0)


def body(data: bytes) -> httpbody_pb2.HttpBody:
    return httpbody_pb2.HttpBody(content_type="application/json", data=data)


async def test_ingest_data_over_grpc_is_accepted_and_processed(servers: Servers) -> None:
    call = servers.external.IngestData(
        external_pb2.IngestDataRequest(
            integration_id="contacts", body=body(b'[{"email": "grpc@acme.no", "name": "G"}]')
        ),
        metadata=(("authorization", f"Bearer {servers.token.secret}"),),
    )
    answer = await call
    initial = dict(await call.initial_metadata())
    assert initial["x-http-code"] == "202"
    request_id = str(dict(await call.trailing_metadata())["x-request-id"])
    assert request_id in answer.message
    assert str(initial["location"]).endswith(request_id)

    async def done() -> Any:
        status = await servers.external.GetDataIngestionStatus(
            external_pb2.GetDataIngestionStatusRequest(request_id=request_id),
            metadata=(("authorization", f"Bearer {servers.token.secret}"),),
        )
        return status if status.status == "completed" else None

    status = await until(done)
    assert [i.action for i in status.items] == ["created"]


@pytest.mark.parametrize(
    ("integration_id", "data", "metadata", "code", "reason"),
    [
        ("contacts", b"{}", (), grpc.StatusCode.UNAUTHENTICATED, "UNAUTHORIZED"),
        ("nope", b"{}", None, grpc.StatusCode.NOT_FOUND, "INTEGRATION_NOT_FOUND"),
        ("contacts", b"{", None, grpc.StatusCode.INVALID_ARGUMENT, "MALFORMED_JSON"),
    ],
)
async def test_refusals_are_statuses_with_reasons(
    servers: Servers,
    integration_id: str,
    data: bytes,
    metadata: tuple[tuple[str, str], ...] | None,
    code: grpc.StatusCode,
    reason: str,
) -> None:
    sent = (
        metadata if metadata is not None else (("authorization", f"Bearer {servers.token.secret}"),)
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await servers.external.IngestData(
            external_pb2.IngestDataRequest(integration_id=integration_id, body=body(data)),
            metadata=sent,
        )
    assert raised.value.code() == code
    assert reason_of(status_from_rpc_error(raised.value)) == reason


async def test_ping_over_grpc(servers: Servers) -> None:
    pong = await servers.external.Ping(
        external_pb2.PingRequest(),
        metadata=(("authorization", f"Bearer {servers.token.secret}"),),
    )
    assert pong.body.data == b"Pong"
    assert pong.body.content_type.startswith("text/plain")
    async with servers.pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) FROM connector_log_entries WHERE route = 'ping'")
        row = await cur.fetchone()
    assert row is not None
    assert row[0] == 1
