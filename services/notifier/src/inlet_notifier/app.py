"""Assembling the notifier: pool, use cases, delivery worker and servicers on a gRPC server."""

from __future__ import annotations

from typing import Any

import grpc
from psycopg_pool import AsyncConnectionPool

from inlet.notifier.v1 import notifier_pb2, notifier_pb2_grpc, webhooks_pb2, webhooks_pb2_grpc
from inlet_common import database, grpcserver
from inlet_notifier.server import Authenticate, NotifierServicer, WebhookServicer
from inlet_notifier.service import Webhooks

SERVICE_NAMES = (
    notifier_pb2.DESCRIPTOR.services_by_name["NotifierService"].full_name,
    webhooks_pb2.DESCRIPTOR.services_by_name["WebhookService"].full_name,
)


async def open_pool(url: str, *, max_size: int = 20) -> AsyncConnectionPool[Any]:
    return await database.open_pool(url, max_size=max_size)


async def start(webhooks: Webhooks, authenticate: Authenticate, address: str) -> grpcserver.Service:
    """Serve NotifierService and WebhookService on `address` (port 0: any free)."""

    def register(server: grpc.aio.Server) -> None:
        notifier_pb2_grpc.add_NotifierServiceServicer_to_server(NotifierServicer(webhooks), server)
        webhooks_pb2_grpc.add_WebhookServiceServicer_to_server(
            WebhookServicer(webhooks, authenticate), server
        )

    return await grpcserver.start(register, SERVICE_NAMES, address)
