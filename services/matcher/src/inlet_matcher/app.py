"""Assembling the matcher: store client, use cases and servicer on a gRPC server."""

from __future__ import annotations

import grpc

from inlet.ingest.v1 import external_pb2, external_pb2_grpc, ingest_pb2, ingest_pb2_grpc
from inlet_common import grpcserver
from inlet_matcher.external import ExternalIngest
from inlet_matcher.external_server import ExternalIngestServicer
from inlet_matcher.push.use_case import Ingest
from inlet_matcher.server import IngestServicer
from inlet_matcher.stream import StreamIngest
from inlet_matcher.transfer import PushTransfers

SERVICE_NAMES = (ingest_pb2.DESCRIPTOR.services_by_name["IngestService"].full_name,)
EXTERNAL_SERVICE_NAME = external_pb2.DESCRIPTOR.services_by_name["ExternalIngestService"].full_name


async def start(
    ingest: Ingest,
    address: str,
    *,
    streams: StreamIngest | None = None,
    external: ExternalIngest | None = None,
    transfers: PushTransfers | None = None,
) -> grpcserver.Service:
    """Serve IngestService on `address` (port 0: any free port); stream ingest with
    `streams`, push transfer with `transfers`, and ExternalIngestService (integration
    ingest) with `external`."""

    def register(server: grpc.aio.Server) -> None:
        ingest_pb2_grpc.add_IngestServiceServicer_to_server(
            IngestServicer(ingest, streams, transfers), server
        )
        if external is not None:
            external_pb2_grpc.add_ExternalIngestServiceServicer_to_server(
                ExternalIngestServicer(external), server
            )

    names = (*SERVICE_NAMES, EXTERNAL_SERVICE_NAME) if external is not None else SERVICE_NAMES
    return await grpcserver.start(register, names, address)
