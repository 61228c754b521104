"""gRPC servicer of IngestService: protobuf ↔ domain only; the work is in service.Ingest."""

from __future__ import annotations

from typing import Any

from inlet.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from inlet_common.edge import EDGE_ERROR_KEY, EDGE_MESSAGE_KEY
from inlet_common.errors import InletError, InvalidArgument, Violation
from inlet_matcher.headers import REPLAYED, rate_headers, rate_state_of
from inlet_matcher.push.use_case import EdgeError, Ingest
from inlet_matcher.stream import StreamIngest, StreamsDisabled
from inlet_matcher.transfer import PushTransfers


def edge_error(metadata: dict[str, Any]) -> EdgeError | None:
    reason = metadata.get(EDGE_ERROR_KEY)
    if not reason:
        return None
    return EdgeError(reason=str(reason), message=str(metadata.get(EDGE_MESSAGE_KEY, reason)))


async def _send_rate_limited(context: Any, error: InletError) -> None:
    """A 429 carries Retry-After and the window's RateLimit-* fields."""
    state = rate_state_of(error)
    if state is not None:
        await context.send_initial_metadata(rate_headers(state, limited=True))


class TransfersDisabled(StreamsDisabled):
    reason = "TRANSFERS_DISABLED"


class IngestServicer(ingest_pb2_grpc.IngestServiceServicer):
    def __init__(
        self,
        ingest: Ingest,
        streams: StreamIngest | None = None,
        transfers: PushTransfers | None = None,
    ) -> None:
        self.ingest = ingest
        self.streams = streams
        self.transfers = transfers

    async def PushEndpoint(
        self, request: ingest_pb2.PushEndpointRequest, context: Any
    ) -> ingest_pb2.PushEndpointResponse:
        metadata = dict(context.invocation_metadata() or ())
        try:
            pushed = await self.ingest.push_endpoint(
                request.token,
                request.body.data,
                idempotency_key=str(metadata.get("idempotency-key", "")),
                edge_error=edge_error(metadata),
            )
        except InletError as error:
            await _send_rate_limited(context, error)
            raise
        headers = rate_headers(pushed.rate, limited=False)
        if pushed.applied.replayed:
            headers.append(REPLAYED)
        await context.send_initial_metadata(headers)
        return ingest_pb2.PushEndpointResponse(
            record=pushed.applied.record, related=pushed.applied.related
        )

    def _streams(self) -> StreamIngest:
        if self.streams is None:
            raise StreamsDisabled("stream ingest is not enabled on this matcher")
        return self.streams

    async def IngestStream(
        self, request: ingest_pb2.IngestStreamRequest, context: Any
    ) -> ingest_pb2.IngestStreamResponse:
        metadata = dict(context.invocation_metadata() or ())
        try:
            edge = edge_error(metadata)
            accepted = await self._streams().accept(
                metadata,
                request.body.data,
                request.stream,
                edge_reason=edge.reason if edge else "",
                edge_message=edge.message if edge else "",
            )
        except InletError as error:
            await _send_rate_limited(context, error)
            raise
        headers = [("x-http-code", "202"), *rate_headers(accepted.rate_limit, limited=False)]
        if accepted.replayed:
            headers.append(REPLAYED)
        await context.send_initial_metadata(headers)
        return ingest_pb2.IngestStreamResponse(
            success=True,
            data=ingest_pb2.IngestStreamData(
                stream=accepted.stream,
                items_received=accepted.items_received,
                request_id=accepted.request_id,
            ),
        )

    async def GetIngestRequestStatus(
        self, request: ingest_pb2.GetIngestRequestStatusRequest, context: Any
    ) -> ingest_pb2.GetIngestRequestStatusResponse:
        metadata = dict(context.invocation_metadata() or ())
        found = await self._streams().status(metadata, request.request_id)
        return ingest_pb2.GetIngestRequestStatusResponse(success=True, data=found.status)

    def _transfers(self) -> PushTransfers:
        if self.transfers is None:
            raise TransfersDisabled("push transfer is not enabled on this matcher")
        return self.transfers

    async def PushTransfer(
        self, request: ingest_pb2.PushTransferRequest, context: Any
    ) -> ingest_pb2.PushTransferResponse:
        metadata = dict(context.invocation_metadata() or ())
        try:
            edge = edge_error(metadata)
            triggered = await self._transfers().trigger(
                metadata,
                request.body.data,
                edge_reason=edge.reason if edge else "",
                edge_message=edge.message if edge else "",
            )
        except InletError as error:
            await _send_rate_limited(context, error)
            raise
        accepted = triggered.accepted
        headers = rate_headers(accepted.rate_limit, limited=False)
        if accepted.replayed:
            headers.append(REPLAYED)
        await context.send_initial_metadata(headers)
        return ingest_pb2.PushTransferResponse(
            success=True, transfer_id=accepted.transfer_id, completed=triggered.completed
        )

    async def GetPushData(
        self, request: ingest_pb2.GetPushDataRequest, context: Any
    ) -> ingest_pb2.GetPushDataResponse:
        metadata = dict(context.invocation_metadata() or ())
        if not request.transfer_id:
            raise InvalidArgument(
                "transfer_id is required: GET /api/push/data?transfer_id=…",
                violations=[
                    Violation("transfer_id", "transfer_id is required", "REQUIRED_FIELD_MISSING")
                ],
            )
        return await self._transfers().data(metadata, request.transfer_id)
