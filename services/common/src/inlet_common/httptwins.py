"""HTTP twins: each public RPC also served answering google.api.HttpBody.

Both HTTP edges (the gateway and Envoy's transcoder) call the twin of an annotated RPC,
`/<package>.<Service>Http/<Method>`: the same google.api.http binding (without
`response_body`), a request with the URL's path fields, and a google.api.HttpBody answer
holding the exact bytes the client gets (inlet_common.httprender), its HTTP status as
initial metadata `x-http-code` and its headers as initial metadata. The query as sent
(x-inlet-query) and a JSON body (in `http_body` of a `<Request>Http` message) are read
by the twin (inlet_common.twinserving), with the one transcoding (inlet_common.httprules).
The edges copy everything through, so the two answer alike by construction. The typed RPC
is untouched for gRPC callers (google.rpc.Status errors). Envoy loads the twins'
descriptors (inlet_common.twindescriptors); this module names the twins, carries a JSON
body and registers each service's twin.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

import grpc
from google.api import httpbody_pb2
from google.protobuf import (
    any_pb2,
    descriptor,
    descriptor_pb2,
    descriptor_pool,
    message,
    message_factory,
)
from google.protobuf.message import DecodeError

from inlet_common import httprules, twinserving
from inlet_common.errors import InvalidArgument
from inlet_common.httprender import HttpSettings, http_rule

TWIN_SUFFIX = "Http"
HTTP_BODY = "google.api.HttpBody"
# The field of a twin's request that holds a JSON body as sent (a number far above any
# request message's own, so it never collides; the typed request ignores it).
HTTP_BODY_FIELD = "http_body"
HTTP_BODY_NUMBER = 536_870_911


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
                twinserving.feed_twin_behavior(
                    method, streamed.unary_stream, settings, _route_of(method)
                ),
                request_deserializer=streamed.request_deserializer,
                response_serializer=httpbody_pb2.HttpBody.SerializeToString,
            )
    for method in twinned(service):
        typed = typed_handlers.get(method.name)
        if typed is None or typed.unary_unary is None:
            continue
        route = _route_of(method)
        if route is None or not httprules.carries_json_body(route):
            behavior = twinserving.twin_behavior(method, typed.unary_unary, settings, route=route)
            deserializer = typed.request_deserializer
        else:
            build = _json_body_builder(route)
            behavior = twinserving.twin_behavior(method, typed.unary_unary, settings, build, route)
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
