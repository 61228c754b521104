"""Calling upstreams: HTTP twins, edge rejections a service judges, feeds, failed calls."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import grpc
from google.api import httpbody_pb2
from google.protobuf import message

from inlet_common.edge import EDGE_ERROR_KEY, EDGE_FIELD_KEY, EDGE_JUDGED_RPCS, EDGE_MESSAGE_KEY
from inlet_common.errors import InletError, Unavailable, status_from_rpc_error
from inlet_common.httprules import Route, RouteMatch, TranscodeError, path_only_request
from inlet_common.httptwins import twin_path
from inlet_common.twincalls import TwinCaller
from inlet_gateway.answers import Answer, EdgeRequest, Rendering, error_headers, http_code, piped
from inlet_gateway.forwarding import ascii_metadata
from inlet_gateway.sse import Streaming
from inlet_gateway.streaming import EOF

log = logging.getLogger(__name__)

ChannelFactory = Callable[[str], grpc.aio.Channel]


class _DeadlineExceeded(InletError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED
    reason = "DEADLINE_EXCEEDED"


class UpstreamCalls(Rendering):
    """Calls to the services behind the edge, over one channel per upstream."""

    timeout_seconds: float
    extra_seconds: dict[str, float]
    _channel_factory: ChannelFactory
    _channels: dict[str, grpc.aio.Channel]
    _callables: dict[str, grpc.aio.UnaryUnaryMultiCallable[Any, Any]]
    _twin_callers: dict[str, TwinCaller]
    _streams: dict[str, grpc.aio.UnaryStreamMultiCallable[Any, Any]]

    async def open_stream(
        self, route: Route, rpc_request: message.Message, request: EdgeRequest
    ) -> Answer | Streaming:
        """The twin's call and its first event; an answer that is not a stream (an error
        before the first event, or none at all) is an ordinary answer."""
        found = self._streams.get(route.full_name)
        if found is None:
            found = self.channel(route.upstream).unary_stream(
                twin_path(route.method),
                request_serializer=serialize,
                response_deserializer=httpbody_pb2.HttpBody.FromString,
            )
            self._streams[route.full_name] = found
        # No deadline: a feed lasts as long as its reader stays.
        call = found(rpc_request, metadata=request.metadata)
        try:
            first = await call.read()
            initial = await call.initial_metadata()
        except grpc.aio.AioRpcError as error:
            return self.upstream_error(route, error, request)
        if first is EOF:
            call.cancel()
            return piped(httpbody_pb2.HttpBody(), initial)
        assert isinstance(first, httpbody_pb2.HttpBody)
        if http_code(initial) != 200:
            call.cancel()
            return piped(first, initial)
        return Streaming(call, first, route.full_name)

    async def call_twin(
        self, route: Route, rpc_request: message.Message | bytes, request: EdgeRequest
    ) -> Answer:
        """The RPC's HTTP twin called: its google.api.HttpBody is the answer, its initial
        metadata the status (x-http-code) and headers, exactly as Envoy passes them on."""
        try:
            timeout = self.timeout_seconds + self.extra_seconds.get(route.full_name, 0.0)
            # Batched with the other calls to the same upstream in hand at once.
            raw, initial = await self._twin_caller(route.upstream).call(
                twin_path(route.method),
                serialize(rpc_request),
                metadata=request.metadata,
                deadline=timeout,
            )
        except grpc.aio.AioRpcError as error:
            return self.upstream_error(route, error, request)
        return piped(httpbody_pb2.HttpBody.FromString(raw), initial)

    async def rejected(
        self,
        found: RouteMatch,
        request: EdgeRequest,
        edge: InletError,
        *,
        edge_field: str | None = None,
    ) -> Answer:
        """An edge rejection, still shown to the service when it is one of EDGE_JUDGED_RPCS.

        The service gets only the URL's fields plus x-inlet-edge-*, so it can check the
        credential and log the attempt; its answer (NOT_FOUND for an unknown token, or the
        edge error re-raised) is what the client sees.
        """
        route = found.route
        own = edge.to_status()
        if route.full_name not in EDGE_JUDGED_RPCS:
            return self.render(route.full_name, own, request)
        try:
            rpc_request = path_only_request(route, found.variables)
        except TranscodeError:
            return self.render(route.full_name, own, request)
        metadata = [
            *request.metadata,
            (EDGE_ERROR_KEY, edge.reason),
            (EDGE_MESSAGE_KEY, ascii_metadata(edge.message)),
        ]
        if edge_field:
            metadata.append((EDGE_FIELD_KEY, ascii_metadata(edge_field)))
        try:
            call = self._callable(route)(
                rpc_request, metadata=metadata, timeout=self.timeout_seconds
            )
            response = await call
            initial = await call.initial_metadata()
        except grpc.aio.AioRpcError as error:
            log.warning(
                "service did not judge an edge rejection",
                extra={"rpc": route.full_name, "grpc_code": error.code().name},
            )
            return self.render(route.full_name, own, request)
        answer = piped(response, initial)
        if answer.status < 400:
            log.warning(
                "service accepted a request the edge rejected", extra={"rpc": route.full_name}
            )
            return self.render(route.full_name, own, request)
        return answer

    def upstream_error(
        self, route: Route, error: grpc.aio.AioRpcError, request: EdgeRequest
    ) -> Answer:
        status = status_from_rpc_error(error)
        if not status.details:
            # No google.rpc.Status from a service: the call failed on its way.
            code = error.code()
            if code == grpc.StatusCode.UNAVAILABLE:
                log.warning(
                    "upstream unavailable",
                    extra={"rpc": route.full_name, "upstream": route.upstream},
                )
                status = Unavailable(
                    "the service is unavailable; retry later", reason="UPSTREAM_UNAVAILABLE"
                ).to_status()
            elif code == grpc.StatusCode.DEADLINE_EXCEEDED:
                log.warning("upstream timed out", extra={"rpc": route.full_name})
                status = _DeadlineExceeded(
                    f"the service did not answer within {self.timeout_seconds:g}s",
                    reason="UPSTREAM_TIMEOUT",
                ).to_status()
        return self.render(route.full_name, status, request, headers=error_headers(error))

    # --- upstream channels ---------------------------------------------------------------

    def channel(self, address: str) -> grpc.aio.Channel:
        """The one channel to an upstream, opened on first use."""
        found = self._channels.get(address)
        if found is None:
            found = self._channel_factory(address)
            self._channels[address] = found
        return found

    def _twin_caller(self, address: str) -> TwinCaller:
        found = self._twin_callers.get(address)
        if found is None:
            found = TwinCaller(self.channel(address))
            self._twin_callers[address] = found
        return found

    def _callable(self, route: Route) -> grpc.aio.UnaryUnaryMultiCallable[Any, Any]:
        found = self._callables.get(route.full_name)
        if found is None:
            # Generic call by path: the gateway needs no generated stubs, only descriptors.
            found = self.channel(route.upstream).unary_unary(
                twin_path(route.method),
                request_serializer=serialize,
                response_deserializer=httpbody_pb2.HttpBody.FromString,
            )
            self._callables[route.full_name] = found
        return found


def serialize(request: message.Message | bytes) -> bytes:
    return request if isinstance(request, bytes) else request.SerializeToString()
