"""gRPC servicer of ExternalIngestService: protobuf ↔ domain and response metadata (202,
rate limits, CORS); the work is in external.ExternalIngest."""

from __future__ import annotations

from typing import Any

from google.api import httpbody_pb2

from inlet.ingest.v1 import external_pb2, external_pb2_grpc
from inlet_common.errors import InletError
from inlet_common.httpstatus import http_status_of
from inlet_matcher.external import ExternalIngest
from inlet_matcher.headers import REPLAYED, rate_headers, rate_state_of
from inlet_matcher.server import edge_error

STATUS_PATH = "/api/v1/external/data-ingestion/requests/"
# What a page may send and read across origins (the form's preflight and answers).
ALLOWED_HEADERS = "content-type, x-client-token, x-request-id, idempotency-key"
EXPOSED_HEADERS = (
    "x-request-id, retry-after, ratelimit-limit, ratelimit-remaining, ratelimit-reset,"
    " ratelimit-policy"
)
PREFLIGHT_MAX_AGE = "600"


def _metadata(context: Any) -> dict[str, Any]:
    return dict(context.invocation_metadata() or ())


def cors_headers(origin: str) -> list[tuple[str, str]]:
    """Let the page at `origin` read the answer (an answer to no Origin needs none)."""
    if not origin:
        return [("vary", "origin")]
    return [
        ("access-control-allow-origin", origin),
        ("access-control-expose-headers", EXPOSED_HEADERS),
        ("vary", "origin"),
    ]


class ExternalIngestServicer(external_pb2_grpc.ExternalIngestServiceServicer):
    def __init__(self, external: ExternalIngest) -> None:
        self.external = external

    async def IngestData(
        self, request: external_pb2.IngestDataRequest, context: Any
    ) -> external_pb2.IngestDataResponse:
        metadata = _metadata(context)
        edge = edge_error(metadata)
        try:
            accepted = await self.external.ingest(
                metadata,
                request.integration_id,
                request.body.data,
                request.body.content_type,
                edge_reason=edge.reason if edge else "",
                edge_message=edge.message if edge else "",
            )
        except InletError as error:
            state = rate_state_of(error)
            if state is not None:
                await context.send_initial_metadata(rate_headers(state, limited=True))
            raise
        headers = [
            ("x-http-code", "202"),
            ("location", STATUS_PATH + accepted.request_id),
            *rate_headers(accepted.rate_limit, limited=False),
        ]
        if accepted.replayed:
            headers.append(REPLAYED)
        await context.send_initial_metadata(headers)
        return external_pb2.IngestDataResponse(
            message=(
                f"Data ingestion job {accepted.request_id} for integration"
                f" {accepted.integration_id} is queued"
            )
        )

    async def GetDataIngestionStatus(
        self, request: external_pb2.GetDataIngestionStatusRequest, context: Any
    ) -> external_pb2.GetDataIngestionStatusResponse:
        found = await self.external.status(_metadata(context), request.request_id)
        return found.status

    async def Ping(
        self, request: external_pb2.PingRequest, context: Any
    ) -> external_pb2.PingResponse:
        await self.external.ping(_metadata(context))
        return external_pb2.PingResponse(
            body=httpbody_pb2.HttpBody(content_type="text/plain; charset=utf-8", data=b"Pong")
        )

    async def SubmitForm(
        self, request: external_pb2.SubmitFormRequest, context: Any
    ) -> external_pb2.SubmitFormResponse:
        metadata = _metadata(context)
        origin = str(metadata.get("origin", ""))
        edge = edge_error(metadata)
        try:
            answer = await self.external.submit_form(
                metadata,
                request.body.data,
                request.body.content_type,
                edge_reason=edge.reason if edge else "",
                edge_message=edge.message if edge else "",
            )
        except InletError as error:
            # A page may read its refusal, unless the token or the origin was refused.
            status = http_status_of(error)
            headers = cors_headers(origin if status not in (401, 403) else "")
            state = rate_state_of(error)
            if state is not None:
                headers += rate_headers(state, limited=True)
            await context.send_initial_metadata(headers)
            raise
        await context.send_initial_metadata(
            [*cors_headers(origin), *rate_headers(answer.rate_limit, limited=False)]
        )
        return external_pb2.SubmitFormResponse(record=answer.record)

    async def PreflightForm(
        self, request: external_pb2.PreflightFormRequest, context: Any
    ) -> external_pb2.PreflightFormResponse:
        # A preflight carries no client token: the asking origin is allowed here, and the
        # form itself is refused (403) to an origin its token does not list.
        origin = str(_metadata(context).get("origin", "")) or "*"
        await context.send_initial_metadata(
            [
                ("x-http-code", "204"),
                ("access-control-allow-origin", origin),
                ("access-control-allow-methods", "POST, OPTIONS"),
                ("access-control-allow-headers", ALLOWED_HEADERS),
                ("access-control-max-age", PREFLIGHT_MAX_AGE),
                ("vary", "origin"),
            ]
        )
        return external_pb2.PreflightFormResponse()
