"""Serving a gRPC service the inlet way: errors as google.rpc.Status, request ids in
logs, health and reflection, metrics, and graceful shutdown on SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc
from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import Counter, Histogram

from inlet_common import logs
from inlet_common.errors import STATUS_DETAILS_KEY, InletError
from inlet_common.portfile import write_port_file

log = logging.getLogger(__name__)

RPCS = Counter("inlet_grpc_requests_total", "RPCs handled", ["method", "code"])
RPC_SECONDS = Histogram("inlet_grpc_request_seconds", "RPC handling time", ["method"])

REQUEST_ID_KEY = "x-request-id"


class ErrorInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Maps InletError to google.rpc.Status; binds the request id; counts RPCs."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        inner = handler.unary_unary
        method = handler_call_details.method
        metadata = dict(handler_call_details.invocation_metadata or ())
        request_id = str(metadata.get(REQUEST_ID_KEY) or logs.new_request_id())

        async def behavior(request: Any, context: Any) -> Any:
            token = logs.request_id.set(request_id)
            started = time.perf_counter()
            code = "OK"
            try:
                return await inner(request, context)
            except InletError as error:
                status = error.to_status()
                code = error.code.name
                await context.abort(
                    error.code,
                    status.message,
                    trailing_metadata=((STATUS_DETAILS_KEY, status.SerializeToString()),),
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
                RPCS.labels(method, code).inc()
                RPC_SECONDS.labels(method).observe(time.perf_counter() - started)
                logs.request_id.reset(token)

        return grpc.unary_unary_rpc_method_handler(
            behavior,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


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


async def start(
    register: Registrar,
    service_names: Sequence[str],
    address: str,
    *,
    max_message_bytes: int = 4 * 1024 * 1024,
) -> Service:
    """Start a server on `address` (port 0 picks a free one) with `register`'s services."""
    server = grpc.aio.server(
        interceptors=[ErrorInterceptor()],
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.so_reuseport", 0),
        ],
    )
    register(server)
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
) -> None:
    """Serve until SIGTERM/SIGINT, then: health NOT_SERVING, drain, run on_stop."""
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
    await service.stop(grace)
    if on_stop is not None:
        await on_stop()
    log.info("%s stopped", name)
