"""Assembling the notifier on a gRPC server."""

from __future__ import annotations

import grpc

from inlet.notifier.v1 import notifier_pb2, notifier_pb2_grpc
from inlet_common import grpcserver
from inlet_notifier.server import NotifierServicer

SERVICE_NAMES = (notifier_pb2.DESCRIPTOR.services_by_name["NotifierService"].full_name,)


async def start(address: str) -> grpcserver.Service:
    def register(server: grpc.aio.Server) -> None:
        notifier_pb2_grpc.add_NotifierServiceServicer_to_server(NotifierServicer(), server)

    return await grpcserver.start(register, SERVICE_NAMES, address)
