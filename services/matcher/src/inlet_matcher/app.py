"""Assembling the matcher: store client, use cases and servicer on a gRPC server."""

from __future__ import annotations

import grpc

from inlet.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from inlet_common import grpcserver
from inlet_matcher.server import IngestServicer
from inlet_matcher.service import Ingest
from inlet_matcher.stream import StreamIngest
from inlet_matcher.transfer import PushTransfers

SERVICE_NAMES = (ingest_pb2.DESCRIPTOR.services_by_name["IngestService"].full_name,)


async def start(
    ingest: Ingest,
    address: str,
    *,
    streams: StreamIngest | None = None,
    transfers: PushTransfers | None = None,
) -> grpcserver.Service:
    """Serve IngestService on `address` (port 0: any free port); stream ingest with
    `streams`, push transfer with `transfers`."""

    def register(server: grpc.aio.Server) -> None:
        ingest_pb2_grpc.add_IngestServiceServicer_to_server(
            IngestServicer(ingest, streams, transfers), server
        )

    return await grpcserver.start(register, SERVICE_NAMES, address)
