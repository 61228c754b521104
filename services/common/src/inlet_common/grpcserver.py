"""Serving a gRPC service the inlet way: every RPC under its request id, errors as
google.rpc.Status, health and reflection, metrics, and graceful shutdown on SIGTERM."""

from __future__ import annotations

import asyncio
import inspect
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import cache
from typing import Any, cast

import grpc
from google.api import annotations_pb2
from google.protobuf import descriptor_pool
from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry.trace import SpanKind
from prometheus_client import Counter, Histogram

from inlet_common import httprender, httptwins, logs, nul, requestids, tracing, twincalls
from inlet_common.errors import STATUS_DETAILS_KEY, InletError
from inlet_common.portfile import write_port_file

log = logging.getLogger(__name__)

# http_code: the HTTP status an HTTP twin answered (its x-http-code; a twin's call itself
# ends OK whatever it answers); empty for every other RPC.
RPCS = Counter("inlet_grpc_requests_total", "RPCs handled", ["method", "code", "http_code"])
RPC_SECONDS = Histogram("inlet_grpc_request_seconds", "RPC handling time", ["method"])

# Polled or probed all the time: their access lines are DEBUG, not INFO.
_QUIET_METHODS = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.",
    "/inlet.store.v1.StoreService/ClaimStreamRequests",
    # Each push or call in these gets its own line, under its own request id.
    "/inlet.store.v1.StoreService/CommitPushes",
    "/inlet.store.v1.StoreService/AcceptStreamRequests",
    twincalls.CALL_TWINS,
)

# Codes that mark a server span failed (OpenTelemetry's gRPC conventions): the caller's
# own mistakes (INVALID_ARGUMENT, NOT_FOUND, …) are answers, not faults.
_SERVER_FAULTS = frozenset(
    {"UNKNOWN", "DEADLINE_EXCEEDED", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS"}
)

Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[Any]]
# googleapis-common-protos types the extension as a plain FieldDescriptor.
_HTTP_RULE = cast("Any", annotations_pb2.http)


class RequestIdInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Runs every RPC, whatever its kind, under the request id of its x-request-id metadata
    (a new one when a direct caller sent none) and the client's x-client-request-id, so
    every log line and every onward call carries them; the id goes back in the trailers."""

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Any:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        ids = requestids.from_metadata(handler_call_details.invocation_metadata)
        trailer = ((requestids.REQUEST_ID_KEY, ids[0]),)
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                _bound_call(handler.unary_unary, ids, trailer),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                _bound_call(handler.stream_unary, ids, trailer),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                _bound_stream(handler.unary_stream, ids, trailer),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return grpc.stream_stream_rpc_method_handler(
            _bound_stream(handler.stream_stream, ids, trailer),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def _bound_call(
    inner: Callable[..., Any], ids: tuple[str, str], trailer: tuple[tuple[str, str], ...]
) -> Callable[..., Awaitable[Any]]:
    async def behavior(request: Any, context: Any) -> Any:
        context.set_trailing_metadata(trailer)
        with requestids.bound(*ids):
            return await inner(request, context)

    return behavior


def _bound_stream(
    inner: Callable[..., Any], ids: tuple[str, str], trailer: tuple[tuple[str, str], ...]
) -> Callable[..., Any]:
    if not inspect.isasyncgenfunction(inner):
        # A servicer that writes with context.write() and returns: a plain coroutine.
        return _bound_call(inner, ids, trailer)

    async def behavior(request: Any, context: Any) -> Any:
        context.set_trailing_metadata(trailer)
        with requestids.bound(*ids):
            async for response in inner(request, context):
                yield response

    return behavior


@cache
def _public(method: str) -> bool:
    """Whether an RPC (/pkg.Service/Method) is public API (it has a google.api.http
    annotation), so that its request comes from outside and is checked as such. Internal
    RPCs carry what a public one already let in."""
    try:
        found = descriptor_pool.Default().FindMethodByName(method.strip("/").replace("/", "."))
    except KeyError:
        return False
    return bool(found.GetOptions().HasExtension(_HTTP_RULE))


class ErrorInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Maps InletError to google.rpc.Status; counts, times, traces (a server span that
    continues the caller's traceparent) and logs one line for each RPC.

    Runs inside RequestIdInterceptor, so the request id is already bound."""

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Any:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        if handler.unary_unary is not None:
            inner, wrap = handler.unary_unary, grpc.unary_unary_rpc_method_handler
        elif handler.unary_stream is not None and not inspect.isasyncgenfunction(
            handler.unary_stream
        ):
            # A server-streaming servicer that writes with context.write() and returns: its
            # errors (before or between messages) end the call the same way.
            inner, wrap = handler.unary_stream, grpc.unary_stream_rpc_method_handler
        else:
            return handler
        method = handler_call_details.method
        quiet = method.startswith(_QUIET_METHODS)
        twin = method.partition("/")[2].partition("/")[0].endswith(httptwins.TWIN_SUFFIX)
        level = logging.DEBUG if quiet else logging.INFO

        async def behavior(request: Any, context: Any) -> Any:
            if not tracing.enabled() or (quiet and not _traced(context)):
                # Probes and idle polls would be a trace each, every second.
                return await observed(request, context, None)
            with tracing.span(
                method.lstrip("/"),
                kind=SpanKind.SERVER,
                parent=context.invocation_metadata(),
                request_id=logs.request_id.get(),
            ) as span:
                return await observed(request, context, span)

        async def observed(request: Any, context: Any, span: Any) -> Any:
            started = time.perf_counter()
            code = "OK"
            if twin:
                context = _Answered(context)
            try:
                if _public(method):
                    # No string with a NUL gets in: PostgreSQL could not store it.
                    nul.refuse_in_message(request)
                return await inner(request, context)
            except InletError as error:
                status = error.to_status()
                code = error.code.name
                await context.abort(
                    error.code,
                    status.message,
                    trailing_metadata=(
                        (STATUS_DETAILS_KEY, status.SerializeToString()),
                        (requestids.REQUEST_ID_KEY, logs.request_id.get()),
                    ),
                )
            except asyncio.CancelledError:
                code = "CANCELLED"
                raise
            except Exception as error:
                # abort() itself raises to end the RPC; let that through untouched.
                if isinstance(error, grpc.aio.AbortError):
                    raise
                code = "INTERNAL"
                log.exception("unhandled error in %s", method)
                await context.abort(grpc.StatusCode.INTERNAL, "internal error")
            finally:
                elapsed = time.perf_counter() - started
                if span is not None:
                    span.set_attribute("rpc.grpc.status_code", code)
                    if code in _SERVER_FAULTS:
                        tracing.fail(span, code)
                http_code = context.http_code if isinstance(context, _Answered) else ""
                RPCS.labels(method, code, http_code).inc()
                RPC_SECONDS.labels(method).observe(elapsed)
                log.log(
                    level,
                    "rpc",
                    extra={"rpc": method, "code": code, "duration_ms": round(elapsed * 1000, 2)},
                )

        return wrap(
            behavior,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


class _Answered:
    """A twin's context, keeping the HTTP status it answers (x-http-code) for the metrics."""

    def __init__(self, context: Any) -> None:
        self._context = context
        self.http_code = ""

    async def send_initial_metadata(self, metadata: Sequence[tuple[str, str]]) -> None:
        for key, value in metadata:
            if key == httprender.HTTP_CODE_KEY:
                self.http_code = str(value)
        await self._context.send_initial_metadata(metadata)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def _traced(context: Any) -> bool:
    return any(key == tracing.TRACEPARENT_KEY for key, _ in context.invocation_metadata() or ())


Registrar = Callable[[grpc.aio.Server], None]


class Service:
    """A started gRPC server with health and reflection; stop() drains it."""

    def __init__(
        self, server: grpc.aio.Server, health_servicer: health_aio.HealthServicer, port: int
    ):
        self.server = server
        self.health = health_servicer
        self.port = port

    async def stop(self, grace: float) -> None:
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)


class _Registered:
    """The server `register` sees: every handler it adds is kept, so that each public
    service's HTTP twin can be served over the same handlers."""

    def __init__(self, server: grpc.aio.Server) -> None:
        self._server = server
        self.handlers: dict[str, dict[str, grpc.RpcMethodHandler[Any, Any]]] = {}

    def add_registered_method_handlers(
        self, service: str, handlers: dict[str, grpc.RpcMethodHandler[Any, Any]]
    ) -> None:
        cast(Any, self._server).add_registered_method_handlers(service, handlers)
        self.handlers[service] = handlers

    def __getattr__(self, name: str) -> Any:
        return getattr(self._server, name)


def _add_twins(
    server: grpc.aio.Server,
    registered: _Registered,
    settings: httprender.HttpSettings,
    interceptors: Sequence[grpc.aio.ServerInterceptor],  # type: ignore[type-arg]
) -> None:
    twins: list[grpc.GenericRpcHandler[Any, Any]] = []
    for name, handlers in registered.handlers.items():
        service = httptwins.service_descriptor(name)
        if service is None:
            continue
        twin = httptwins.twin_handler(service, handlers, settings)
        if twin is not None:
            twins.append(twin)
    if twins:
        # The gateway sends the twin calls it has in hand at once in one call.
        batches = twincalls.TwinCallServer(twins, interceptors)
        server.add_generic_rpc_handlers((*twins, batches.handler()))


async def start(
    register: Registrar,
    service_names: Sequence[str],
    address: str,
    *,
    max_message_bytes: int = 4 * 1024 * 1024,
    http: httprender.HttpSettings | None = None,
) -> Service:
    """Start a server on `address` (port 0 picks a free one) with `register`'s services,
    and the HTTP twin of each public one (inlet_common.httptwins)."""
    interceptors = [RequestIdInterceptor(), ErrorInterceptor()]
    server = grpc.aio.server(
        interceptors=interceptors,
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.so_reuseport", 0),
        ],
    )
    registered = _Registered(server)
    register(cast(grpc.aio.Server, registered))
    _add_twins(server, registered, http or httprender.HttpSettings(), interceptors)
    health_servicer = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME]
    reflection.enable_server_reflection(names, server)
    port = server.add_insecure_port(address)
    await server.start()
    for name in [*service_names, ""]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return Service(server, health_servicer, port)


async def run_until_signalled(
    service: Service,
    *,
    name: str,
    grace: float,
    port_file: str | None = None,
    on_stop: Callable[[], Awaitable[None]] | None = None,
    on_signal: Callable[[], None] | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT, then: run on_signal (end long-held calls, so draining
    does not wait for them), health NOT_SERVING, drain, run on_stop."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Handlers before the port file: a supervisor that saw the port may SIGTERM at once,
    # and the default action would kill the process instead of draining it.
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    if port_file:
        await asyncio.to_thread(write_port_file, port_file, service.port)
    log.info("%s listening", name, extra={"port": service.port})
    await stopping.wait()
    log.info("%s stopping", name, extra={"grace_seconds": grace})
    if on_signal is not None:
        on_signal()
    await service.stop(grace)
    if on_stop is not None:
        await on_stop()
    log.info("%s stopped", name)
