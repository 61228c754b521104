"""gRPC servicer of IngestService: protobuf ↔ domain only; the work is in service.Ingest."""

from __future__ import annotations

from typing import Any

from inlet.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from inlet_common.structs import to_dict
from inlet_matcher.service import EdgeError, Ingest

EDGE_ERROR_KEY = "x-inlet-edge-error"
EDGE_MESSAGE_KEY = "x-inlet-edge-message"


def edge_error(context: Any) -> EdgeError | None:
    metadata = dict(context.invocation_metadata() or ())
    reason = metadata.get(EDGE_ERROR_KEY)
    if not reason:
        return None
    return EdgeError(reason=str(reason), message=str(metadata.get(EDGE_MESSAGE_KEY, reason)))


class IngestServicer(ingest_pb2_grpc.IngestServiceServicer):
    def __init__(self, ingest: Ingest) -> None:
        self.ingest = ingest

    async def PushEndpoint(
        self, request: ingest_pb2.PushEndpointRequest, context: Any
    ) -> ingest_pb2.PushEndpointResponse:
        applied = await self.ingest.push_endpoint(
            request.token,
            to_dict(request.fields),
            {slug: to_dict(values) for slug, values in request.related.items()},
            edge_error=edge_error(context),
        )
        return ingest_pb2.PushEndpointResponse(record=applied.record, related=applied.related)
