"""A small in-test IngestService that records what reached it, served the inlet way."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import grpc

from inlet.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from inlet.type.v1 import problem_pb2, result_pb2
from inlet_common import grpcserver
from inlet_common.errors import (
    FailedPrecondition,
    InletError,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Violation,
)

SERVICE_NAME = "inlet.ingest.v1.IngestService"

# Tokens the fake knows, and what each does.
OK = "tok_ok"
ASYNC = "tok_async"
INVALID = "tok_invalid"
CONFLICT = "tok_conflict"
STALL = "tok_stall"
KNOWN = {OK, ASYNC, INVALID, CONFLICT, STALL}


@dataclass
class Received:
    request: ingest_pb2.PushEndpointRequest
    metadata: dict[str, str]


class PushOnlyIngest(ingest_pb2_grpc.IngestServiceServicer):
    """An IngestService fake that serves PushEndpoint only: the stream RPCs answer
    UNIMPLEMENTED, as the generated base class would."""

    async def IngestStream(
        self, request: ingest_pb2.IngestStreamRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> ingest_pb2.IngestStreamResponse:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "Method not implemented!")

    async def GetIngestRequestStatus(
        self,
        request: ingest_pb2.GetIngestRequestStatusRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> ingest_pb2.GetIngestRequestStatusResponse:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "Method not implemented!")

    async def PushTransfer(
        self, request: ingest_pb2.PushTransferRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> ingest_pb2.PushTransferResponse:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "Method not implemented!")

    async def GetPushData(
        self, request: ingest_pb2.GetPushDataRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> ingest_pb2.GetPushDataResponse:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "Method not implemented!")


@dataclass
class RecordingIngestService(PushOnlyIngest):
    """Answers by token like the matcher would, and records every call."""

    calls: list[Received] = field(default_factory=list)
    # STALL waits on this, so a deadline can pass without the test sleeping.
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def PushEndpoint(
        self, request: ingest_pb2.PushEndpointRequest, context: Any
    ) -> ingest_pb2.PushEndpointResponse:
        metadata = {str(k): str(v) for k, v in context.invocation_metadata()}
        self.calls.append(Received(request, metadata))
        if request.token not in KNOWN:
            raise NotFound("unknown or disabled endpoint", reason="ENDPOINT_NOT_FOUND")
        edge = metadata.get("x-inlet-edge-error")
        if edge is not None:
            raise _edge_error(edge, metadata)
        if request.token == INVALID:
            raise InvalidArgument(
                "1 field is invalid",
                violations=[Violation("fields.email", "not an e-mail address", "INVALID_EMAIL")],
            )
        if request.token == CONFLICT:
            raise FailedPrecondition(
                "unique fields matched different records",
                reason="UNIQUE_CONFLICT",
                details=[
                    problem_pb2.UniqueConflict(
                        entity="record",
                        matches=[
                            problem_pb2.UniqueMatch(
                                field="email", value="ola@acme.no", record_ids=["rec_1"]
                            ),
                            problem_pb2.UniqueMatch(
                                field="phone", value="+4799887766", record_ids=["rec_2"]
                            ),
                        ],
                    )
                ],
            )
        if request.token == STALL:
            await self.release.wait()
        if request.token == ASYNC:
            await context.send_initial_metadata(
                (("x-http-code", "202"), ("retry-after", "7"), ("x-secret-internal", "no"))
            )
        return ingest_pb2.PushEndpointResponse(
            record=result_pb2.EntityResult(id="rec_1", action="created"),
            related={
                "contact": result_pb2.EntityResult(
                    id="rec_2", action="updated", matched_on=["email"]
                )
            },
        )

    def edge_calls(self) -> list[Received]:
        return [c for c in self.calls if "x-inlet-edge-error" in c.metadata]


def _edge_error(reason: str, metadata: dict[str, str]) -> InletError:
    # As the matcher does (inlet_matcher.service): the edge's reason and message, re-raised.
    message = metadata.get("x-inlet-edge-message", reason)
    if reason == "PAYLOAD_TOO_LARGE":
        return ResourceExhausted(message, reason=reason)
    return InvalidArgument(message, reason=reason)


async def start_ingest_service(servicer: RecordingIngestService) -> grpcserver.Service:
    """The fake on a free port, behind the real error interceptor."""

    def register(server: grpc.aio.Server) -> None:
        ingest_pb2_grpc.add_IngestServiceServicer_to_server(servicer, server)

    return await grpcserver.start(register, [SERVICE_NAME], "127.0.0.1:0")
