"""The gateway's ASGI application: route, cap, transcode, call the service, render its answer."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import replace
from typing import Any

import grpc
from google.protobuf import descriptor, message

from inlet.admin.v1 import admin_pb2, integrations_pb2, push_pb2, streams_pb2
from inlet.ingest.v1 import external_pb2, feed_pb2, ingest_pb2
from inlet.notifier.v1 import webhooks_pb2
from inlet_common import channels, requestids
from inlet_common.edge import QUERY_KEY
from inlet_common.envelopes import DEFAULT_EXTERNAL_TYPE_BASE
from inlet_common.errors import (
    InletError,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Violation,
)
from inlet_common.httpobserve import ROUTE_SCOPE_KEY
from inlet_common.httprules import (
    MethodNotAllowed,
    RouteMatch,
    RouteTable,
    TranscodeError,
    build_routes,
    carries_json_body,
    transcode,
)
from inlet_common.httptwins import with_json_body
from inlet_common.twincalls import TwinCaller
from inlet_gateway import docs, edge_headers, limits
from inlet_gateway.answers import (
    Answer,
    EdgeRequest,
    client_request_id_header,
    content_length,
    content_type_header,
    security_headers,
)
from inlet_gateway.calls import ChannelFactory, UpstreamCalls
from inlet_gateway.config import GatewayConfig
from inlet_gateway.console import Console, build_console
from inlet_gateway.forwarding import PRINTABLE, client_request_id, metadata_of
from inlet_gateway.idlechannels import IdleRelease
from inlet_gateway.sse import Streaming
from inlet_gateway.streaming import Receive, Send, send_stream

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]

# RPCs that may take longer than the gateway's timeout by design: their extra seconds.
PUSH_TRANSFER = "inlet.ingest.v1.IngestService.PushTransfer"

# A body this much past the cap is not worth draining to keep the connection alive.
_DRAIN_ALLOWANCE = 1024 * 1024


class _RequestTimeout(InletError):
    # DEADLINE_EXCEEDED would say 504 (ours); the reason says 408 (the client's).
    code = grpc.StatusCode.DEADLINE_EXCEEDED
    reason = "REQUEST_TIMEOUT"


def upstreams(config: GatewayConfig) -> list[tuple[descriptor.ServiceDescriptor, str]]:
    """The services mounted on the edge and where each is served."""
    return [
        (ingest_pb2.DESCRIPTOR.services_by_name["IngestService"], config.matcher_addr),
        (admin_pb2.DESCRIPTOR.services_by_name["AdminService"], config.store_addr),
        (streams_pb2.DESCRIPTOR.services_by_name["StreamAdminService"], config.store_addr),
        (push_pb2.DESCRIPTOR.services_by_name["PushAdminService"], config.store_addr),
        (webhooks_pb2.DESCRIPTOR.services_by_name["WebhookService"], config.notifier_addr),
        (external_pb2.DESCRIPTOR.services_by_name["ExternalIngestService"], config.matcher_addr),
        (
            integrations_pb2.DESCRIPTOR.services_by_name["IntegrationAdminService"],
            config.store_addr,
        ),
        (feed_pb2.DESCRIPTOR.services_by_name["StreamFeedService"], config.store_addr),
    ]


async def _close_all(channels: list[grpc.aio.Channel]) -> None:
    for channel in channels:
        await channel.close(None)


def create_app(config: GatewayConfig, *, channel_factory: ChannelFactory | None = None) -> Gateway:
    """The gateway for `config`: every annotated RPC of the mounted services, and the
    console at /console/ unless INLET_CONSOLE is off."""
    gateway = Gateway(
        build_routes(upstreams(config)),
        timeout_seconds=config.timeout_seconds,
        channel_factory=channel_factory,
        # A synchronous transfer answers once it has completed (or its wait ran out).
        extra_seconds={PUSH_TRANSFER: config.push_sync_max_seconds},
        external_type_base=config.external_problem_base,
        body_timeout_seconds=config.body_timeout_seconds,
        channel_idle_seconds=config.channel_idle_seconds,
    )
    if config.console:
        gateway.console = build_console(config, gateway.channel)
    return gateway


class Gateway(UpstreamCalls):
    """The ASGI application. Channels open lazily (inside the loop), close after an idle
    spell (`idle`) and on aclose()."""

    def __init__(
        self,
        routes: RouteTable,
        *,
        timeout_seconds: float,
        channel_factory: ChannelFactory | None = None,
        openapi_document: bytes | None = None,
        extra_seconds: Mapping[str, float] | None = None,
        external_type_base: str = DEFAULT_EXTERNAL_TYPE_BASE,
        body_timeout_seconds: float = 30.0,
        channel_idle_seconds: float = 0.0,
    ) -> None:
        self.routes = routes
        self.timeout_seconds = timeout_seconds
        # A body not fully received by then is a slow client holding a connection: 408.
        self.body_timeout_seconds = body_timeout_seconds
        self.extra_seconds = dict(extra_seconds or {})
        self.external_type_base = external_type_base
        document = docs.load_document() if openapi_document is None else openapi_document
        page = docs.render_page(document)
        # The edge's own GET routes, answered without calling any service.
        self._own: dict[str, Callable[[], Answer]] = {
            "/healthz": lambda: Answer(200, b'{"status":"ok"}'),
            "/openapi.json": lambda: Answer(200, document),
            "/docs": lambda: Answer(
                200,
                page,
                "text/html; charset=utf-8",
                [(b"content-security-policy", docs.CONTENT_SECURITY_POLICY.encode())],
            ),
        }
        self._channel_factory = channel_factory or channels.channel
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._callables: dict[str, grpc.aio.UnaryUnaryMultiCallable[Any, Any]] = {}
        self._twin_callers: dict[str, TwinCaller] = {}
        self._streams: dict[str, grpc.aio.UnaryStreamMultiCallable[Any, Any]] = {}
        # Served before the RPC routes, over the same upstream channels.
        self.console: Console | None = None
        self.idle = IdleRelease(channel_idle_seconds, self._let_go, self._upstream_busy)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.idle.begin()
            try:
                await self._http(scope, receive, send)
            finally:
                self.idle.end()
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})

    async def aclose(self) -> None:
        """Close every upstream channel (in-flight calls are cancelled)."""
        self.idle.cancel()
        await self._let_go()

    @property
    def open_channels(self) -> int:
        return len(self._channels)

    def _let_go(self) -> Awaitable[None]:
        """Forget every channel now (the next call opens a new one); the result closes
        them."""
        opened, self._channels = self._channels, {}
        self._callables.clear()
        self._twin_callers.clear()
        self._streams.clear()
        return _close_all(list(opened.values()))

    def _upstream_busy(self) -> bool:
        return not all(caller.idle for caller in self._twin_callers.values())

    # --- ASGI plumbing -------------------------------------------------------------------

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            event = await receive()
            if event["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif event["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name.lower(), value)
        # Every request gets a new id here, the one place ids are made for HTTP requests.
        request_id, client_id = requestids.new_request_id(), client_request_id(headers)
        with requestids.bound(request_id, client_id):
            if b"x-request-id" in headers and not client_id:
                log.info("X-Request-Id ignored: 1 to 128 of A-Z a-z 0-9 . _ : - expected")
            request = EdgeRequest(request_id, metadata_of(scope, headers), headers, scope["path"])
            route_label = "unmatched"
            try:
                answered, route_label = await self._answer(scope, receive, request)
                if isinstance(answered, Streaming):
                    scope[ROUTE_SCOPE_KEY] = route_label
                    await send_stream(answered, request, receive, send, client_id, self.render)
                    log.info(
                        "request",
                        extra={
                            "method": scope["method"],
                            "route": route_label,
                            "status": 200,
                            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                        },
                    )
                    return
                answer = answered
            except limits.ClientDisconnected:
                log.info("client disconnected", extra={"route": route_label})
                return
            except Exception:
                # A bug here must still answer in the envelope, with the request id.
                log.exception("unhandled error in the gateway")
                internal = InletError("internal error").to_status()
                answer = self.render(None, internal, request)
            # For the observing middleware (inlet_common.httpobserve), which counts it.
            scope[ROUTE_SCOPE_KEY] = route_label
            await send(
                {
                    "type": "http.response.start",
                    "status": answer.status,
                    "headers": [
                        *content_type_header(answer.content_type),
                        # A 204 has no body, and so no length (RFC 9110).
                        *content_length(answer),
                        (b"x-request-id", request_id.encode()),
                        *client_request_id_header(client_id),
                        *answer.headers,
                        *security_headers(answer, scope["path"]),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": answer.body})
            elapsed = time.perf_counter() - started
            # The route template, not the path: the path of an endpoint push is its secret.
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "route": route_label,
                    "status": answer.status,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )

    # --- one request ---------------------------------------------------------------------

    async def _answer(
        self, scope: Scope, receive: Receive, request: EdgeRequest
    ) -> tuple[Answer | Streaming, str]:
        method: str = scope["method"]
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        path = raw_path.decode("latin-1")
        crowded = edge_headers.check_block(scope["headers"])
        if crowded is not None:
            return self._headers_too_large(method, path, crowded, request)
        own = self._own.get(path)
        if own is not None:
            if method in ("GET", "HEAD"):
                return own(), path
            return self.method_not_allowed(request, method, ("GET", "HEAD")), path
        if self.console is not None and (path == "/console" or path.startswith("/console/")):
            reply, label = await self.console.handle(scope, receive, request.headers)
            if reply.stream is not None:
                return reply.stream, label
            return Answer(reply.status, reply.body, reply.content_type, reply.headers), label
        found = self.routes.match(method, path)
        if found is None:
            error = NotFound(f"no route matches {method} {path}", reason="ROUTE_NOT_FOUND")
            return self.render(None, error.to_status(), request), "unmatched"
        if isinstance(found, MethodNotAllowed):
            return self.method_not_allowed(request, method, found.allowed), "unmatched"
        route = found.route
        label = route.template.source
        limit = limits.body_limit(route.full_name)
        try:
            limits.check_declared(request.headers.get(b"content-length"), limit)
        except limits.BodyTooLarge as too_large:
            answer = await self.rejected(found, request, _too_large(too_large))
            if _should_close(request.headers, limit):
                answer.headers.append((b"connection", b"close"))
            return answer, label
        try:
            async with asyncio.timeout(self.body_timeout_seconds):
                body = await limits.read_body(receive, limit)
        except limits.BodyTooLarge as too_large:
            return await self.rejected(found, request, _too_large(too_large)), label
        except TimeoutError:
            log.info("request body timed out", extra={"route": label})
            slow = _RequestTimeout(limits.body_timeout_message(self.body_timeout_seconds))
            # The request's framing (its media type, a body that never came, its header
            # block) is the edge's own verdict, answered in the dialect before any
            # credential is looked at, as Envoy's local replies are; its content is the
            # service's to judge (and log).
            answer = self.render(route.full_name, slow.to_status(), request)
            answer.headers.append((b"connection", b"close"))
            return answer, label
        query = scope.get("query_string", b"").decode("latin-1")
        content_type = request.headers.get(b"content-type", b"").decode("latin-1")
        # A JSON body for the request's fields goes to the RPC's twin as sent (its service
        # parses it, as behind Envoy); the URL's path and query are read here, as by Envoy.
        json_body = carries_json_body(route)
        try:
            # The query is the service's to read (x-inlet-query, below), as behind Envoy.
            rpc_request: message.Message | bytes = transcode(
                route,
                found.variables,
                "",
                b"" if json_body else body,
                content_type=content_type,
            )
            if json_body:
                assert isinstance(rpc_request, message.Message)
                rpc_request = with_json_body(rpc_request, body, content_type)
        except TranscodeError as bad:
            violations = [Violation(bad.field, bad.message, bad.code)] if bad.field else []
            edge = InvalidArgument(bad.message, reason=bad.reason, violations=violations)
            return await self.rejected(found, request, edge, edge_field=bad.field), label
        if query and PRINTABLE.fullmatch(query):
            request = replace(request, metadata=[*request.metadata, (QUERY_KEY, query)])
        if route.method.server_streaming:
            assert isinstance(rpc_request, message.Message)
            return await self.open_stream(route, rpc_request, request), label
        return await self.call_twin(route, rpc_request, request), label

    def _headers_too_large(
        self, method: str, path: str, error: InletError, request: EdgeRequest
    ) -> tuple[Answer, str]:
        """431: nothing of the request crosses to a service; answered in the route's
        dialect, and the connection closed."""
        matched = self.routes.match(method, path)
        route = matched.route if isinstance(matched, RouteMatch) else None
        answer = self.render(route.full_name if route else None, error.to_status(), request)
        answer.headers.append((b"connection", b"close"))
        return answer, route.template.source if route else "unmatched"


def _too_large(error: limits.BodyTooLarge) -> InletError:
    return ResourceExhausted(error.message, reason=limits.PAYLOAD_TOO_LARGE)


def _should_close(headers: dict[bytes, bytes], limit: int) -> bool:
    """Whether to close rather than drain the unread body of a request rejected unread."""
    if headers.get(b"expect", b"").lower() == b"100-continue":
        return True  # the client waits for our word before sending: nothing will come
    declared = headers.get(b"content-length", b"").strip()
    return declared.isdigit() and int(declared) > limit + _DRAIN_ALLOWANCE
