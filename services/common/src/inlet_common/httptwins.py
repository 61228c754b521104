"""HTTP twins: each public RPC also served answering google.api.HttpBody.

Both HTTP edges (the gateway and Envoy's transcoder) call the twin of an annotated RPC,
`/<package>.<Service>Http/<Method>`: the same google.api.http binding (without
`response_body`), a request with the URL's path fields, and a google.api.HttpBody answer
holding the exact bytes the client gets (inlet_common.httprender), its HTTP status as
initial metadata `x-http-code` and its headers as initial metadata. The query as sent
(x-inlet-query) and a JSON body (in `http_body` of a `<Request>Http` message) are read
here, with the one transcoding (inlet_common.httprules). The edges copy everything
through, so the two answer alike by construction. The typed RPC is untouched for gRPC
callers (google.rpc.Status errors).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from functools import cache
from typing import Any, cast

import grpc
from google.api import annotations_pb2, http_pb2, httpbody_pb2
from google.protobuf import (
    any_pb2,
    descriptor,
    descriptor_pb2,
    descriptor_pool,
    message,
    message_factory,
)
from google.protobuf.message import DecodeError

from inlet_common import httprules, mediatypes, nul, sse
from inlet_common.edge import (
    CONTENT_TYPE_KEY,
    EDGE_ERROR_KEY,
    EDGE_FIELD_KEY,
    EDGE_JUDGED_RPCS,
    EDGE_MESSAGE_KEY,
    QUERY_KEY,
)
from inlet_common.errors import InletError, InvalidArgument, Violation
from inlet_common.httprender import (
    HTTP_CODE_KEY,
    HttpSettings,
    http_rule,
    render_error,
    render_success,
)

log = logging.getLogger(__name__)

TWIN_SUFFIX = "Http"
HTTP_BODY = "google.api.HttpBody"
# The field of a twin's request that holds a JSON body as sent (a number far above any
# request message's own, so it never collides; the typed request ignores it).
HTTP_BODY_FIELD = "http_body"
HTTP_BODY_NUMBER = 536_870_911
_HTTP_RULE = cast("Any", annotations_pb2.http)

Behavior = Callable[[Any, Any], Awaitable[Any]]


def twin_service_name(service_full_name: str) -> str:
    """inlet.ingest.v1.IngestService → inlet.ingest.v1.IngestServiceHttp."""
    return service_full_name + TWIN_SUFFIX


def twin_path(method: descriptor.MethodDescriptor) -> str:
    """The gRPC path both edges call for an annotated RPC."""
    return f"/{twin_service_name(method.containing_service.full_name)}/{method.name}"


def twinned(service: descriptor.ServiceDescriptor) -> list[descriptor.MethodDescriptor]:
    """The service's RPCs that have a twin: unary, with a google.api.http rule."""
    return [
        m
        for m in service.methods
        if http_rule(m) is not None and not m.client_streaming and not m.server_streaming
    ]


def _without_response_body(rule: http_pb2.HttpRule) -> http_pb2.HttpRule:
    copied = http_pb2.HttpRule()
    copied.CopyFrom(rule)
    copied.response_body = ""
    for extra in copied.additional_bindings:
        extra.response_body = ""
    return copied


def twin_files(
    files: Iterable[descriptor_pb2.FileDescriptorProto],
) -> list[descriptor_pb2.FileDescriptorProto]:
    """The twin services' files for a descriptor set (Envoy's transcoder loads them): for
    each file with annotated services, `<name>_http.proto` in the same package. An RPC
    whose body is JSON for its request's fields takes `<Request>Http` instead: the same
    fields (for the URL's path and query) and the body as sent, in `http_body`."""
    given = list(files)
    messages = {f".{f.package}.{m.name}": m for f in given for m in f.message_type if f.package}
    twins: list[descriptor_pb2.FileDescriptorProto] = []
    for source in given:
        twin = descriptor_pb2.FileDescriptorProto(
            name=source.name.removesuffix(".proto") + "_http.proto",
            package=source.package,
            syntax="proto3",
            # The source's own imports too: a copied request field may name their types.
            dependency=list(
                dict.fromkeys(
                    [
                        source.name,
                        *source.dependency,
                        "google/api/annotations.proto",
                        "google/api/httpbody.proto",
                    ]
                )
            ),
        )
        for service in source.service:
            methods = [
                m
                for m in service.method
                if m.options.HasExtension(_HTTP_RULE) and not m.client_streaming
            ]
            if not methods:
                continue
            added = twin.service.add(name=service.name + TWIN_SUFFIX)
            for method in methods:
                rule = _without_response_body(method.options.Extensions[_HTTP_RULE])
                if method.server_streaming:
                    # A feed's twin streams its Server-Sent Events as the service renders
                    # them (inlet_common.sse), one google.api.HttpBody per event.
                    streamed = added.method.add(
                        name=method.name,
                        input_type=method.input_type,
                        output_type="." + HTTP_BODY,
                        server_streaming=True,
                    )
                    streamed.options.Extensions[_HTTP_RULE].CopyFrom(rule)
                    continue
                input_type = method.input_type
                request = messages.get(input_type)
                if request is not None and _json_body(request, rule):
                    carrier = twin.message_type.add(name=request.name + TWIN_SUFFIX)
                    carrier.field.extend(request.field)
                    carrier.oneof_decl.extend(request.oneof_decl)
                    carrier.field.add(
                        name=HTTP_BODY_FIELD,
                        number=HTTP_BODY_NUMBER,
                        label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
                        type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
                        type_name="." + HTTP_BODY,
                        json_name="httpBody",
                    )
                    input_type = f".{source.package}.{carrier.name}"
                    _body_to_carrier(rule)
                twin_method = added.method.add(
                    name=method.name, input_type=input_type, output_type="." + HTTP_BODY
                )
                twin_method.options.Extensions[_HTTP_RULE].CopyFrom(rule)
        if twin.service:
            twins.append(twin)
    return twins


def _json_body(request: descriptor_pb2.DescriptorProto, rule: http_pb2.HttpRule) -> bool:
    if not rule.body:
        return False
    if rule.body == "*":
        return True
    for field in request.field:
        if field.name == rule.body:
            return field.type_name != "." + HTTP_BODY
    return False


def _body_to_carrier(rule: http_pb2.HttpRule) -> None:
    if rule.body:
        rule.body = HTTP_BODY_FIELD
    for extra in rule.additional_bindings:
        _body_to_carrier(extra)


# --- serving ----------------------------------------------------------------------------


class _Recorder:
    """Initial metadata a typed handler sends, kept to go out with the rendered answer; and
    the call's metadata as the handler sees it (with an edge refusal added)."""

    def __init__(self, context: Any) -> None:
        self._context = context
        self.headers: list[tuple[str, str]] = []
        self.added: list[tuple[str, str]] = []

    async def send_initial_metadata(self, metadata: Sequence[tuple[str, str]]) -> None:
        self.headers.extend(metadata)

    def invocation_metadata(self) -> tuple[tuple[str, Any], ...]:
        return (*(self._context.invocation_metadata() or ()), *self.added)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def twin_behavior(
    method: descriptor.MethodDescriptor,
    typed: Behavior,
    settings: HttpSettings,
    build: Callable[[Any, str], message.Message] | None = None,
    route: httprules.Route | None = None,
) -> Behavior:
    """The twin of one RPC: the typed handler, its answer or error rendered. The request
    arrives with the URL's path fields; the query as sent (x-inlet-query) is applied here,
    by `route`, and `build` adds a JSON body (that twin gets bytes)."""
    full_name = method.full_name

    judges_media = (
        route is not None and bool(route.body) and full_name not in mediatypes.OWN_MEDIA_TYPES
    )
    required = full_name in mediatypes.CONTENT_TYPE_REQUIRED

    async def behavior(arrived: Any, context: Any) -> httpbody_pb2.HttpBody:
        recorder = _Recorder(context)
        try:
            if judges_media:
                # Judged before anything else, as an edge would: not logged, no credential read.
                problem = mediatypes.check_json_content_type(
                    _metadata_value(context, CONTENT_TYPE_KEY),
                    required=required,
                    body=not required or _has_body(arrived, route),
                )
                if problem is not None:
                    raise problem
            query = _query_of(context)
            try:
                request = build(arrived, query) if build is not None else arrived
                if build is None and route is not None:
                    httprules.apply_query(route, request, query)
            except httprules.TranscodeError as bad:
                refused = _invalid(bad)
                if build is not None or route is None or full_name not in EDGE_JUDGED_RPCS:
                    raise refused from None
                # As for an edge's refusal: the handler sees the URL's path fields and the
                # refusal, checks the credential, logs the attempt and raises it.
                recorder.added = _edge_metadata(refused)
                await typed(httprules.path_fields_only(route, arrived), recorder)
                raise refused from None
            # No string with a NUL gets in: PostgreSQL could not store it.
            nul.refuse_in_message(request)
            answer = render_success(method, await typed(request, recorder), recorder.headers)
        except InletError as error:
            answer = render_error(full_name, error, recorder.headers, settings)
        except grpc.aio.AbortError:
            raise
        except Exception:
            log.exception("unhandled error in %s", full_name)
            internal = InletError("internal error")
            answer = render_error(full_name, internal, recorder.headers, settings)
        await context.send_initial_metadata([(HTTP_CODE_KEY, str(answer.status)), *answer.headers])
        return answer.body

    return behavior


class _FeedWriter:
    """The context a typed feed handler writes to: each message goes out as its event
    (the stream's status and headers with the first), an error as its answer or, once the
    stream began, as its last event."""

    def __init__(self, context: Any, full_name: str, settings: HttpSettings) -> None:
        self._context = context
        self._full_name = full_name
        self._settings = settings
        self.started = False

    async def write(self, response: message.Message) -> None:
        chunk = sse.event(response)
        if not self.started:
            await self._context.send_initial_metadata([(HTTP_CODE_KEY, "200"), *sse.HEADERS])
            self.started = True
            chunk = sse.opening() + chunk
        await self._context.write(httpbody_pb2.HttpBody(content_type=sse.CONTENT_TYPE, data=chunk))

    async def fail(self, error: InletError) -> None:
        answer = render_error(self._full_name, error, [], self._settings)
        if self.started:
            event = sse.error_event(answer.body.data)
            await self._context.write(
                httpbody_pb2.HttpBody(content_type=sse.CONTENT_TYPE, data=event)
            )
            return
        self.started = True
        code = [(HTTP_CODE_KEY, str(answer.status)), *answer.headers]
        await self._context.send_initial_metadata(code)
        await self._context.write(answer.body)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def feed_twin_behavior(
    method: descriptor.MethodDescriptor,
    typed: Callable[[Any, Any], Any],
    settings: HttpSettings,
    route: httprules.Route | None,
) -> Callable[[Any, Any], Awaitable[None]]:
    """The twin of a server-streaming RPC: its query (x-inlet-query) applied by `route`,
    its messages written as Server-Sent Events, its error in the dialect's envelope (before
    the first event, with its HTTP status as `x-http-code`; after it, as the last event).
    The call itself always ends OK, as an HTTP answer already begun cannot change."""
    full_name = method.full_name

    async def behavior(arrived: Any, context: Any) -> None:
        writer = _FeedWriter(context, full_name, settings)
        try:
            if route is not None:
                try:
                    httprules.apply_query(route, arrived, _query_of(context))
                except httprules.TranscodeError as bad:
                    raise _invalid(bad) from None
            nul.refuse_in_message(arrived)
            produced = typed(arrived, writer)
            if hasattr(produced, "__aiter__"):
                async for response in produced:
                    await writer.write(response)
            else:
                await produced
        except InletError as error:
            await writer.fail(error)
        except grpc.aio.AbortError:
            raise
        except Exception:
            log.exception("unhandled error in %s", full_name)
            await writer.fail(InletError("internal error"))
        if not writer.started:
            await context.send_initial_metadata([(HTTP_CODE_KEY, "204")])

    return behavior


def _query_of(context: Any) -> str:
    return _metadata_value(context, QUERY_KEY) or ""


def _metadata_value(context: Any, wanted: str) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == wanted and isinstance(value, str):
            return value
    return None


def _has_body(arrived: Any, route: httprules.Route | None) -> bool:
    """Whether a raw-body request (google.api.HttpBody in its body field) carries bytes."""
    if (
        route is None
        or not route.body
        or route.body == "*"
        or not isinstance(arrived, message.Message)
    ):
        return True
    found = getattr(arrived, route.body, None)
    return not isinstance(found, httpbody_pb2.HttpBody) or bool(found.data)


def _invalid(bad: httprules.TranscodeError) -> InletError:
    violations = [Violation(bad.field, bad.message, bad.code)] if bad.field else []
    return InvalidArgument(bad.message, reason=bad.reason, violations=violations)


def _edge_metadata(refused: InletError) -> list[tuple[str, str]]:
    added = [(EDGE_ERROR_KEY, refused.reason), (EDGE_MESSAGE_KEY, refused.message)]
    added.extend((EDGE_FIELD_KEY, v.field) for v in refused.violations[:1])
    return added


@cache
def _carrier() -> type[message.Message]:
    """A message of the one field every JSON-body twin request adds (http_body), to read
    it from (and write it into) a twin request's bytes."""
    pool = descriptor_pool.DescriptorPool()
    for dependency in (any_pb2.DESCRIPTOR, httpbody_pb2.DESCRIPTOR):
        pool.AddSerializedFile(dependency.serialized_pb)
    carrier = descriptor_pb2.FileDescriptorProto(
        name="inlet/edge/carrier.proto",
        package="inlet.edge",
        syntax="proto3",
        dependency=["google/api/httpbody.proto"],
    )
    carrier.message_type.add(name="Carrier").field.add(
        name=HTTP_BODY_FIELD,
        number=HTTP_BODY_NUMBER,
        label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
        type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
        type_name="." + HTTP_BODY,
    )
    pool.Add(carrier)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("inlet.edge.Carrier"))


def with_json_body(carried: message.Message, body: bytes, content_type: str) -> bytes:
    """A JSON-body twin's request: the URL's fields (`carried`) and the body as sent."""
    carrier: Any = _carrier()()
    carrier.http_body.data = body
    carrier.http_body.content_type = content_type
    return bytes(carried.SerializeToString() + carrier.SerializeToString())


def _json_body_builder(route: httprules.Route) -> Callable[[bytes, str], message.Message]:
    def build(raw: bytes, query: str) -> message.Message:
        try:
            carried = route.request_class.FromString(raw)
            found: Any = _carrier().FromString(raw)
        except DecodeError:
            raise InvalidArgument("request is not a valid message") from None
        carried.DiscardUnknownFields()
        return httprules.request_with_body(route, carried, found.http_body.data, query)

    return build


def _route_of(method: descriptor.MethodDescriptor) -> httprules.Route | None:
    """The method's HTTP route (its first binding; one with a JSON body first)."""
    found = [
        route
        for route in httprules.build_routes([(method.containing_service, "")]).routes
        if route.full_name == method.full_name
    ]
    found.sort(key=lambda route: not httprules.carries_json_body(route))
    return found[0] if found else None


def twin_handler(
    service: descriptor.ServiceDescriptor,
    typed_handlers: Mapping[str, grpc.RpcMethodHandler[Any, Any]],
    settings: HttpSettings,
) -> grpc.GenericRpcHandler[Any, Any] | None:
    """The generic handler of a service's twin, over its registered typed handlers."""
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}
    for method in service.methods:
        if http_rule(method) is None or not method.server_streaming:
            continue
        streamed = typed_handlers.get(method.name)
        if streamed is not None and streamed.unary_stream is not None:
            handlers[method.name] = grpc.unary_stream_rpc_method_handler(
                feed_twin_behavior(method, streamed.unary_stream, settings, _route_of(method)),
                request_deserializer=streamed.request_deserializer,
                response_serializer=httpbody_pb2.HttpBody.SerializeToString,
            )
    for method in twinned(service):
        typed = typed_handlers.get(method.name)
        if typed is None or typed.unary_unary is None:
            continue
        route = _route_of(method)
        if route is None or not httprules.carries_json_body(route):
            behavior = twin_behavior(method, typed.unary_unary, settings, route=route)
            deserializer = typed.request_deserializer
        else:
            build = _json_body_builder(route)
            behavior = twin_behavior(method, typed.unary_unary, settings, build, route)
            deserializer = None  # the bytes, read by build
        handlers[method.name] = grpc.unary_unary_rpc_method_handler(
            behavior,
            request_deserializer=deserializer,
            response_serializer=httpbody_pb2.HttpBody.SerializeToString,
        )
    if not handlers:
        return None
    return grpc.method_handlers_generic_handler(twin_service_name(service.full_name), handlers)


def service_descriptor(full_name: str) -> descriptor.ServiceDescriptor | None:
    """A service of the generated protos, by full name."""
    try:
        return descriptor_pool.Default().FindServiceByName(full_name)
    except KeyError:
        return None
