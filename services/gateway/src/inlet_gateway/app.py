"""The gateway's ASGI application: route, cap, transcode, call the service, render its answer."""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast

import google.rpc.error_details_pb2 as error_details_pb2
import google.rpc.status_pb2 as status_pb2
import grpc
from google.api import httpbody_pb2
from google.protobuf import descriptor, message

from inlet.admin.v1 import admin_pb2, integrations_pb2, push_pb2, streams_pb2
from inlet.ingest.v1 import external_pb2, feed_pb2, ingest_pb2
from inlet.notifier.v1 import webhooks_pb2
from inlet_common import channels, requestids, sse
from inlet_common.edge import (
    CONTENT_TYPE_KEY,
    EDGE_ERROR_KEY,
    EDGE_FIELD_KEY,
    EDGE_JUDGED_RPCS,
    EDGE_MESSAGE_KEY,
    QUERY_KEY,
)
from inlet_common.envelopes import DEFAULT_EXTERNAL_TYPE_BASE, ErrorContext, envelope_for
from inlet_common.errors import (
    InletError,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Unavailable,
    Violation,
    reason_of,
    status_from_rpc_error,
    unpack,
)
from inlet_common.httpobserve import ROUTE_SCOPE_KEY
from inlet_common.httprules import (
    MethodNotAllowed,
    Route,
    RouteMatch,
    RouteTable,
    TranscodeError,
    build_routes,
    carries_json_body,
    path_only_request,
    transcode,
)
from inlet_common.httpstatus import http_status
from inlet_common.httptwins import twin_path, with_json_body
from inlet_common.twincalls import TwinCaller
from inlet_gateway import docs, edge_headers, limits
from inlet_gateway.config import GatewayConfig
from inlet_gateway.console import Console, build_console
from inlet_gateway.sse import Streaming

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Event = dict[str, Any]
Receive = Callable[[], Awaitable[Event]]
Send = Callable[[Event], Awaitable[None]]
ChannelFactory = Callable[[str], grpc.aio.Channel]
Metadata = list[tuple[str, str]]

# The end of a server-streaming call (grpc's stubs do not declare it).
_EOF: Any = cast("Any", grpc.aio).EOF

_PRINTABLE = re.compile(r"[\x20-\x7e]*")

# Client headers that become gRPC metadata: credentials and push options. Nothing else
# crosses, so a client cannot pose as the edge (x-inlet-*) or choose our request id (its
# X-Request-Id travels as x-client-request-id, set by _metadata, not copied from here).
FORWARDED_HEADERS: dict[bytes, str] = {
    b"authorization": "authorization",
    b"idempotency-key": "idempotency-key",
    b"x-item-key": "x-item-key",
    b"x-stream": "x-stream",
    b"x-client-token": "x-client-token",
    # Where a reconnecting EventSource resumes a feed.
    b"last-event-id": "last-event-id",
    # The external form checks it against its client token's allowed origins.
    b"origin": "origin",
    # gRPC replaces a user-agent entry with its own, so the client's travels under this key.
    b"user-agent": "x-forwarded-user-agent",
    # The media type as sent: the service's twin judges it, as behind Envoy.
    b"content-type": CONTENT_TYPE_KEY,
}
CLIENT_ADDRESS_KEY = "x-forwarded-for"
HTTP_CODE_KEY = "x-http-code"
# The client's own X-Request-Id comes back under this header (ours is X-Request-Id).
CLIENT_REQUEST_ID_HEADER = b"x-client-request-id"

# Service metadata that becomes response headers (rate limits, replays, created resources).
RETURNED_METADATA = (
    "retry-after",
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
    "ratelimit-policy",
    "idempotency-replayed",
    "location",
    # CORS of the external form (its preflight, and what a page may read of an answer).
    "access-control-allow-origin",
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-expose-headers",
    "access-control-max-age",
    "vary",
)

# RPCs that may take longer than the gateway's timeout by design: their extra seconds.
PUSH_TRANSFER = "inlet.ingest.v1.IngestService.PushTransfer"

# A body this much past the cap is not worth draining to keep the connection alive.
_DRAIN_ALLOWANCE = 1024 * 1024

# The one dialect whose contract marks Content-Type: application/json as required.
# Edge routes whose answers a cache may keep (they hold nothing per caller).
_CACHEABLE = frozenset({"/openapi.json", "/docs"})


class _DeadlineExceeded(InletError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED
    reason = "DEADLINE_EXCEEDED"


class _RequestTimeout(InletError):
    # DEADLINE_EXCEEDED would say 504 (ours); the reason says 408 (the client's).
    code = grpc.StatusCode.DEADLINE_EXCEEDED
    reason = "REQUEST_TIMEOUT"


class _MethodNotAllowed(InletError):
    # No gRPC code means 405; the reason does (inlet_common.httpstatus).
    code = grpc.StatusCode.UNIMPLEMENTED
    reason = "METHOD_NOT_ALLOWED"


@dataclass
class Answer:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


@dataclass(frozen=True)
class _Request:
    request_id: str
    metadata: Metadata
    headers: dict[bytes, bytes]
    path: str = ""


def client_request_id(headers: dict[bytes, bytes]) -> str:
    """The client's X-Request-Id when well-formed, else "": its correlation id, kept beside
    ours and never used as ours."""
    return requestids.well_formed(headers.get(b"x-request-id")) or ""


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
    )
    if config.console:
        gateway.console = build_console(config, gateway.channel)
    return gateway


class Gateway:
    """The ASGI application. Channels open lazily (inside the loop) and close on aclose()."""

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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})

    async def aclose(self) -> None:
        """Close every upstream channel (in-flight calls are cancelled)."""
        opened, self._channels = self._channels, {}
        self._callables.clear()
        self._twin_callers.clear()
        self._streams.clear()
        for channel in opened.values():
            await channel.close(None)

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
            request = _Request(request_id, _metadata(scope, headers), headers, scope["path"])
            route_label = "unmatched"
            try:
                answered, route_label = await self._answer(scope, receive, request)
                if isinstance(answered, Streaming):
                    scope[ROUTE_SCOPE_KEY] = route_label
                    await self._stream(answered, request, receive, send, client_id)
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
                answer = self._render(None, internal, request)
            # For the observing middleware (inlet_common.httpobserve), which counts it.
            scope[ROUTE_SCOPE_KEY] = route_label
            await send(
                {
                    "type": "http.response.start",
                    "status": answer.status,
                    "headers": [
                        *_content_type(answer.content_type),
                        # A 204 has no body, and so no length (RFC 9110).
                        *_content_length(answer),
                        (b"x-request-id", request_id.encode()),
                        *_client_request_id_header(client_id),
                        *answer.headers,
                        *_security_headers(answer, scope["path"]),
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
        self, scope: Scope, receive: Receive, request: _Request
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
            return self._method_not_allowed(request, method, ("GET", "HEAD")), path
        if self.console is not None and (path == "/console" or path.startswith("/console/")):
            reply, label = await self.console.handle(scope, receive, request.headers)
            if reply.stream is not None:
                return reply.stream, label
            return Answer(reply.status, reply.body, reply.content_type, reply.headers), label
        found = self.routes.match(method, path)
        if found is None:
            error = NotFound(f"no route matches {method} {path}", reason="ROUTE_NOT_FOUND")
            return self._render(None, error.to_status(), request), "unmatched"
        if isinstance(found, MethodNotAllowed):
            return self._method_not_allowed(request, method, found.allowed), "unmatched"
        route = found.route
        label = route.template.source
        limit = limits.body_limit(route.full_name)
        try:
            limits.check_declared(request.headers.get(b"content-length"), limit)
        except limits.BodyTooLarge as too_large:
            answer = await self._rejected(found, request, _too_large(too_large))
            if _should_close(request.headers, limit):
                answer.headers.append((b"connection", b"close"))
            return answer, label
        try:
            async with asyncio.timeout(self.body_timeout_seconds):
                body = await limits.read_body(receive, limit)
        except limits.BodyTooLarge as too_large:
            return await self._rejected(found, request, _too_large(too_large)), label
        except TimeoutError:
            log.info("request body timed out", extra={"route": label})
            slow = _RequestTimeout(limits.body_timeout_message(self.body_timeout_seconds))
            # The request's framing (its media type, a body that never came, its header
            # block) is the edge's own verdict, answered in the dialect before any
            # credential is looked at, as Envoy's local replies are; its content is the
            # service's to judge (and log).
            answer = self._render(route.full_name, slow.to_status(), request)
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
            return await self._rejected(found, request, edge, edge_field=bad.field), label
        if query and _PRINTABLE.fullmatch(query):
            request = replace(request, metadata=[*request.metadata, (QUERY_KEY, query)])
        if route.method.server_streaming:
            assert isinstance(rpc_request, message.Message)
            return await self._open_stream(route, rpc_request, request), label
        return await self._call(route, rpc_request, request), label

    def _headers_too_large(
        self, method: str, path: str, error: InletError, request: _Request
    ) -> tuple[Answer, str]:
        """431: nothing of the request crosses to a service; answered in the route's
        dialect, and the connection closed."""
        matched = self.routes.match(method, path)
        route = matched.route if isinstance(matched, RouteMatch) else None
        answer = self._render(route.full_name if route else None, error.to_status(), request)
        answer.headers.append((b"connection", b"close"))
        return answer, route.template.source if route else "unmatched"

    async def _open_stream(
        self, route: Route, rpc_request: message.Message, request: _Request
    ) -> Answer | Streaming:
        """The twin's call and its first event; an answer that is not a stream (an error
        before the first event, or none at all) is an ordinary answer."""
        found = self._streams.get(route.full_name)
        if found is None:
            found = self.channel(route.upstream).unary_stream(
                twin_path(route.method),
                request_serializer=_serialize,
                response_deserializer=httpbody_pb2.HttpBody.FromString,
            )
            self._streams[route.full_name] = found
        # No deadline: a feed lasts as long as its reader stays.
        call = found(rpc_request, metadata=request.metadata)
        try:
            first = await call.read()
            initial = await call.initial_metadata()
        except grpc.aio.AioRpcError as error:
            return self._upstream_error(route, error, request)
        if first is _EOF:
            call.cancel()
            return _piped(httpbody_pb2.HttpBody(), initial)
        assert isinstance(first, httpbody_pb2.HttpBody)
        if _http_code(initial) != 200:
            call.cancel()
            return _piped(first, initial)
        return Streaming(call, first, route.full_name)

    async def _stream(
        self,
        streaming: Streaming,
        request: _Request,
        receive: Receive,
        send: Send,
        client_id: str,
    ) -> None:
        """Each message as an event, written as it comes: the next is read only once the
        client took this one, so a slow reader slows only its own call (whose server drops
        it past its buffer), and the edge holds one message per connection."""
        call = streaming.call
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", sse.CONTENT_TYPE.encode()),
                    (b"x-request-id", request.request_id.encode()),
                    *_client_request_id_header(client_id),
                    *((k.encode(), v.encode()) for k, v in sse.HEADERS),
                    edge_headers.NOSNIFF,
                ],
            }
        )

        async def watch_disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            call.cancel()

        watcher = asyncio.get_running_loop().create_task(watch_disconnect())
        try:
            chunk = _first_chunk(streaming.first)
            while True:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                try:
                    message_ = await call.read()
                except asyncio.CancelledError:
                    if watcher.done():
                        return  # the client went away
                    raise
                except grpc.aio.AioRpcError as error:
                    if error.code() == grpc.StatusCode.CANCELLED:
                        return
                    status = status_from_rpc_error(error)
                    rendered = self._render(streaming.rpc, status, request)
                    chunk = sse.error_event(rendered.body)
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    break
                if message_ is _EOF:
                    break
                chunk = _chunk(message_)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            call.cancel()
            raise
        except OSError:
            call.cancel()
        finally:
            watcher.cancel()
            call.cancel()

    async def _call(
        self, route: Route, rpc_request: message.Message | bytes, request: _Request
    ) -> Answer:
        """The RPC's HTTP twin called: its google.api.HttpBody is the answer, its initial
        metadata the status (x-http-code) and headers, exactly as Envoy passes them on."""
        try:
            timeout = self.timeout_seconds + self.extra_seconds.get(route.full_name, 0.0)
            # Batched with the other calls to the same upstream in hand at once.
            raw, initial = await self._twin_caller(route.upstream).call(
                twin_path(route.method),
                _serialize(rpc_request),
                metadata=request.metadata,
                deadline=timeout,
            )
        except grpc.aio.AioRpcError as error:
            return self._upstream_error(route, error, request)
        return _piped(httpbody_pb2.HttpBody.FromString(raw), initial)

    async def _rejected(
        self,
        found: RouteMatch,
        request: _Request,
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
            return self._render(route.full_name, own, request)
        try:
            rpc_request = path_only_request(route, found.variables)
        except TranscodeError:
            return self._render(route.full_name, own, request)
        metadata = [
            *request.metadata,
            (EDGE_ERROR_KEY, edge.reason),
            (EDGE_MESSAGE_KEY, _ascii(edge.message)),
        ]
        if edge_field:
            metadata.append((EDGE_FIELD_KEY, _ascii(edge_field)))
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
            return self._render(route.full_name, own, request)
        answer = _piped(response, initial)
        if answer.status < 400:
            log.warning(
                "service accepted a request the edge rejected", extra={"rpc": route.full_name}
            )
            return self._render(route.full_name, own, request)
        return answer

    def _upstream_error(
        self, route: Route, error: grpc.aio.AioRpcError, request: _Request
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
        return self._render(route.full_name, status, request, headers=_error_headers(error))

    def _method_not_allowed(self, request: _Request, method: str, allowed: Sequence[str]) -> Answer:
        error = _MethodNotAllowed(f"{method} is not allowed here; use {', '.join(allowed)}")
        answer = self._render(None, error.to_status(), request)
        answer.headers.append((b"allow", ", ".join(allowed).encode()))
        return answer

    def _render(
        self,
        method_full_name: str | None,
        status: status_pb2.Status,
        request: _Request,
        *,
        headers: Sequence[tuple[bytes, bytes]] = (),
    ) -> Answer:
        code = http_status(status.code, reason_of(status))
        context = ErrorContext(status, code, request.request_id, self.external_type_base)
        rendered = envelope_for(method_full_name, request.path)(context)
        extra = list(headers)
        if not any(name == b"retry-after" for name, _ in extra):
            retry_after = _retry_after(status)
            if retry_after is not None:
                extra.append((b"retry-after", retry_after))
        return Answer(code, rendered.body, rendered.content_type, extra)

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
                request_serializer=_serialize,
                response_deserializer=httpbody_pb2.HttpBody.FromString,
            )
            self._callables[route.full_name] = found
        return found


def _serialize(request: message.Message | bytes) -> bytes:
    return request if isinstance(request, bytes) else request.SerializeToString()


def _metadata(scope: Scope, headers: dict[bytes, bytes]) -> Metadata:
    """The request ids (bound by the caller), then the forwarded headers."""
    metadata: Metadata = list(requestids.outgoing())
    for name, value in scope["headers"]:
        key = FORWARDED_HEADERS.get(name.lower())
        if key is None:
            continue
        text = edge_headers.forwarded(name.lower(), value.decode("latin-1"))
        # gRPC refuses non-printable metadata values; never log the value (credentials).
        if not _PRINTABLE.fullmatch(text):
            log.info("header dropped: not printable ASCII", extra={"header": key})
            continue
        metadata.append((key, text))
    client = scope.get("client")
    if client:
        metadata.append((CLIENT_ADDRESS_KEY, str(client[0])))
    return metadata


def _security_headers(answer: Answer, path: str) -> list[tuple[bytes, bytes]]:
    """nosniff on every answer; no-store unless the answer says otherwise or is public."""
    present = {name.lower() for name, _ in answer.headers}
    headers = []
    if b"x-content-type-options" not in present:
        headers.append(edge_headers.NOSNIFF)
    if b"cache-control" not in present and path not in _CACHEABLE:
        headers.append(edge_headers.NO_STORE)
    return headers


def _content_length(answer: Answer) -> list[tuple[bytes, bytes]]:
    if answer.status == 204:
        return []
    return [(b"content-length", str(len(answer.body)).encode())]


def _content_type(content_type: str) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", content_type.encode())] if content_type else []


def _first_chunk(first: message.Message) -> bytes:
    """A twin's first event as it rendered it; a typed call's (the console's) rendered."""
    if isinstance(first, httpbody_pb2.HttpBody):
        return first.data
    return sse.opening() + sse.event(first)


def _chunk(event: message.Message) -> bytes:
    return event.data if isinstance(event, httpbody_pb2.HttpBody) else sse.event(event)


def _piped(response: httpbody_pb2.HttpBody, initial: Any) -> Answer:
    """A twin's answer as the client gets it: its status, headers and bytes."""
    status = _http_code(initial)
    headers = _returned_headers(initial)
    if status == 204:
        return Answer(204, b"", "", headers=headers)
    return Answer(status, response.data, response.content_type, headers)


def _client_request_id_header(client_request_id: str) -> list[tuple[bytes, bytes]]:
    return [(CLIENT_REQUEST_ID_HEADER, client_request_id.encode())] if client_request_id else []


def _too_large(error: limits.BodyTooLarge) -> InletError:
    return ResourceExhausted(error.message, reason=limits.PAYLOAD_TOO_LARGE)


def _should_close(headers: dict[bytes, bytes], limit: int) -> bool:
    """Whether to close rather than drain the unread body of a request rejected unread."""
    if headers.get(b"expect", b"").lower() == b"100-continue":
        return True  # the client waits for our word before sending: nothing will come
    declared = headers.get(b"content-length", b"").strip()
    return declared.isdigit() and int(declared) > limit + _DRAIN_ALLOWANCE


def _ascii(text: str, limit: int = 1024) -> str:
    cleaned = text.encode("ascii", "backslashreplace").decode("ascii")
    cleaned = re.sub(r"[^\x20-\x7e]", " ", cleaned)
    return cleaned[:limit]


def _http_code(initial: Any) -> int:
    for key, value in initial or ():
        if key == HTTP_CODE_KEY:
            text = str(value).strip()
            if text.isdigit() and 100 <= int(text) <= 599:
                return int(text)
            log.warning("ignored x-http-code", extra={"value": text[:16]})
    return 200


def _returned_headers(*metadata: Any) -> list[tuple[bytes, bytes]]:
    headers: list[tuple[bytes, bytes]] = []
    for md in metadata:
        for key, value in md or ():
            if key in RETURNED_METADATA and isinstance(value, str):
                headers.append((key.encode(), value.encode("latin-1", "replace")))
    return headers


def _error_headers(error: grpc.aio.AioRpcError) -> list[tuple[bytes, bytes]]:
    return _returned_headers(error.initial_metadata(), error.trailing_metadata())


def _retry_after(status: status_pb2.Status) -> bytes | None:
    for info in unpack(status, error_details_pb2.RetryInfo):
        assert isinstance(info, error_details_pb2.RetryInfo)
        delay = info.retry_delay.seconds + info.retry_delay.nanos / 1e9
        return str(max(1, math.ceil(delay))).encode()
    return None
