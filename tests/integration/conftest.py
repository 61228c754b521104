"""Integration fixtures: the store and matcher as real gRPC servers on port 0."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool

from inlet.admin.v1 import admin_pb2_grpc
from inlet.ingest.v1 import ingest_pb2_grpc
from inlet_common.channels import channel
from inlet_devstack import demo
from inlet_matcher import app as matcher_app
from inlet_matcher.service import Ingest
from inlet_matcher.store_client import GrpcStore
from inlet_store import app as store_app

# The notifier modules' fixtures (they work on the module's own `own_pool`).
from tests.integration.webhook_fixtures import (  # noqa: F401 - registered as fixtures
    receiver,
    webhooks,
    workers,
    workspace,
)


@dataclass
class Servers:
    store_addr: str
    matcher_addr: str
    admin: admin_pb2_grpc.AdminServiceAsyncStub
    ingest: ingest_pb2_grpc.IngestServiceAsyncStub
    pool: AsyncConnectionPool[Any]
    bootstrap_token: str = ""


@pytest.fixture(scope="session")
async def servers(pool: AsyncConnectionPool[Any]) -> AsyncIterator[Servers]:
    bootstrap_token = secrets.token_urlsafe(32)
    store = await store_app.start(pool, "127.0.0.1:0", bootstrap_token=bootstrap_token)
    store_addr = f"127.0.0.1:{store.port}"
    store_channel = channel(store_addr)
    matcher = await matcher_app.start(Ingest(GrpcStore(store_channel, 10.0)), "127.0.0.1:0")
    matcher_addr = f"127.0.0.1:{matcher.port}"
    admin_channel = channel(store_addr)
    ingest_channel = channel(matcher_addr)
    yield Servers(
        store_addr=store_addr,
        matcher_addr=matcher_addr,
        admin=admin_pb2_grpc.AdminServiceStub(admin_channel),
        ingest=ingest_pb2_grpc.IngestServiceStub(ingest_channel),
        pool=pool,
        bootstrap_token=bootstrap_token,
    )
    for ch in (admin_channel, ingest_channel, store_channel):
        await ch.close(grace=None)
    await matcher.stop(0)
    await store.stop(0)


@pytest.fixture
async def seeded(servers: Servers) -> demo.DemoSeed:
    """A fresh demo workspace (contact, company, deal) with contact and deal endpoints."""
    return await demo.seed(
        servers.admin,
        bootstrap_token=servers.bootstrap_token,
        workspace_slug=f"t{secrets.token_hex(6)}",
    )
