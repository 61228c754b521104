"""Every service answers gRPC health checks and lists its services by reflection."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from psycopg_pool import AsyncConnectionPool

from inlet_notifier import app as notifier_app
from inlet_notifier.auth import authenticator
from inlet_notifier.secrets_at_rest import KeyRing, new_key_ring
from inlet_notifier.service import Webhooks
from tests.integration.conftest import Servers


async def check(address: str, service: str) -> int:
    async with grpc.aio.insecure_channel(address) as ch:
        reply = await health_pb2_grpc.HealthStub(ch).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=5
        )
        return int(reply.status)


async def reflected_services(address: str) -> set[str]:
    # The reflection client is synchronous; the servers run on this event loop.
    def query() -> set[str]:
        with grpc.insecure_channel(address) as ch:
            return set(ProtoReflectionDescriptorDatabase(ch).get_services())

    return await asyncio.to_thread(query)


async def test_store_and_matcher_health_and_reflection(servers: Servers) -> None:
    serving = health_pb2.HealthCheckResponse.SERVING
    assert await check(servers.store_addr, "inlet.store.v1.StoreService") == serving
    assert await check(servers.store_addr, "inlet.admin.v1.AdminService") == serving
    assert await check(servers.matcher_addr, "inlet.ingest.v1.IngestService") == serving
    assert {"inlet.store.v1.StoreService", "inlet.admin.v1.AdminService"} <= (
        await reflected_services(servers.store_addr)
    )
    assert "inlet.ingest.v1.IngestService" in await reflected_services(servers.matcher_addr)


async def test_graceful_stop_reports_not_serving(pool: AsyncConnectionPool[Any]) -> None:
    webhooks = Webhooks(pool, keys=KeyRing.parse(new_key_ring()))
    service = await notifier_app.start(webhooks, authenticator(pool), "127.0.0.1:0")
    address = f"127.0.0.1:{service.port}"
    assert await check(address, "") == health_pb2.HealthCheckResponse.SERVING
    await service.health.enter_graceful_shutdown()
    assert await check(address, "") == health_pb2.HealthCheckResponse.NOT_SERVING
    await service.server.stop(0)
