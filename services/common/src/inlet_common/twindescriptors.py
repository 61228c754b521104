"""The twin services' descriptors: `<name>_http.proto` files, for Envoy's transcoder."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2

from inlet_common.httptwins import HTTP_BODY, HTTP_BODY_FIELD, HTTP_BODY_NUMBER, TWIN_SUFFIX

_HTTP_RULE = cast("Any", annotations_pb2.http)


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
