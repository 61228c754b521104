"""The HTTP route table, read from google.api.http annotations, and the edges' transcoding."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, cast
from urllib.parse import parse_qsl

from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor, message, message_factory

from inlet_common.exactjson import kind_of
from inlet_common.jsonmisfits import UNKNOWN_FIELD
from inlet_common.pathtemplates import PathTemplate, TemplateError, compile_template
from inlet_common.protofields import (
    descriptor_of,
    is_plain_message,
    message_of,
    resolve_path,
)
from inlet_common.protojson import holds_raw
from inlet_common.transcoding import (
    FIELD_MASK,
    HTTP_BODY,
    INVALID_BODY,
    INVALID_QUERY,
    UPDATE_MASK,
    body_paths,
    lift_raw,
    merge_body_field,
    merge_document,
    parse_exact,
    parse_json,
    set_path_fields,
    set_query_fields,
)

# Named here too: the edges catch what the functions below raise by this module's name.
from inlet_common.transcoding import TranscodeError as TranscodeError

_VERBS = ("get", "put", "post", "delete", "patch")
# googleapis-common-protos types the extension as a plain FieldDescriptor.
_HTTP_RULE = cast("Any", annotations_pb2.http)


@dataclass(frozen=True)
class Route:
    """One HTTP binding of one RPC, and where that RPC is served."""

    http_method: str
    template: PathTemplate
    body: str
    response_body: str
    method: descriptor.MethodDescriptor
    upstream: str
    request_class: type[message.Message]
    response_class: type[message.Message]

    @property
    def full_name(self) -> str:
        """e.g. inlet.ingest.v1.IngestService.PushEndpoint (the key of limits and envelopes)."""
        return str(self.method.full_name)

    @property
    def grpc_path(self) -> str:
        """e.g. /inlet.ingest.v1.IngestService/PushEndpoint."""
        return f"/{self.method.containing_service.full_name}/{self.method.name}"


@dataclass(frozen=True)
class RouteMatch:
    route: Route
    # Dotted request field path → value from the URL.
    variables: dict[str, str]


@dataclass(frozen=True)
class MethodNotAllowed:
    allowed: tuple[str, ...]


@dataclass
class RouteTable:
    """All routes, most specific template first."""

    routes: list[Route] = field(default_factory=list)

    def match(self, http_method: str, raw_path: str) -> RouteMatch | MethodNotAllowed | None:
        """The route for a request; MethodNotAllowed when only the method is wrong.

        As the HTTP rule's grammar (and Envoy's transcoder) has it, a path ending in a
        custom verb some route declares (…/x:revoke) is a request for that verb: only
        routes with that verb match it, so a wildcard segment never swallows ":revoke".
        """
        verb = self._verb_of(raw_path)
        allowed: list[str] = []
        for route in self.routes:
            if route.template.verb != verb:
                continue
            variables = route.template.match(raw_path)
            if variables is None:
                continue
            if route.http_method == http_method:
                return RouteMatch(route, variables)
            if route.http_method not in allowed:
                allowed.append(route.http_method)
        if allowed:
            return MethodNotAllowed(tuple(allowed))
        return None

    def _verb_of(self, raw_path: str) -> str:
        last = raw_path.rsplit("/", 1)[-1]
        _, colon, verb = last.rpartition(":")
        return verb if colon and verb in self._verbs else ""

    @cached_property
    def _verbs(self) -> frozenset[str]:
        return frozenset(route.template.verb for route in self.routes if route.template.verb)

    @property
    def upstreams(self) -> list[str]:
        return sorted({route.upstream for route in self.routes})


def _bindings(rule: http_pb2.HttpRule) -> Iterable[http_pb2.HttpRule]:
    yield rule
    for extra in rule.additional_bindings:
        yield from _bindings(extra)


def _verb_and_path(rule: http_pb2.HttpRule) -> tuple[str, str] | None:
    kind = rule.WhichOneof("pattern")
    if kind is None:
        return None
    if kind == "custom":
        return rule.custom.kind.upper(), rule.custom.path
    assert kind in _VERBS
    return kind.upper(), str(getattr(rule, kind))


def build_routes(
    upstreams: Sequence[tuple[descriptor.ServiceDescriptor, str]],
) -> RouteTable:
    """Routes of every annotated RPC of each (service, upstream address) pair."""
    routes: list[Route] = []
    for service, address in upstreams:
        for method in service.methods:
            rule: http_pb2.HttpRule = method.GetOptions().Extensions[_HTTP_RULE]
            request_class = message_factory.GetMessageClass(method.input_type)
            response_class = message_factory.GetMessageClass(method.output_type)
            for binding in _bindings(rule):
                verb_path = _verb_and_path(binding)
                if verb_path is None:
                    continue
                verb, path = verb_path
                template = compile_template(path)
                try:
                    for variable in template.variables:
                        resolve_path(method.input_type, variable.split("."), leaf_scalar=True)
                    if binding.body not in ("", "*"):
                        resolve_path(method.input_type, [binding.body], leaf_scalar=False)
                except KeyError as error:
                    raise TemplateError(
                        f"{method.full_name}: {path!r} names unknown field {error.args[0]!r}"
                    ) from None
                routes.append(
                    Route(
                        http_method=verb,
                        template=template,
                        body=binding.body,
                        response_body=binding.response_body,
                        method=method,
                        upstream=address,
                        request_class=request_class,
                        response_class=response_class,
                    )
                )
    # Literal segments beat wildcards, so /a/special wins over /a/{id}.
    routes.sort(key=lambda r: -r.template.literal_length)
    return RouteTable(routes)


def transcode(
    route: Route,
    variables: Mapping[str, str],
    query: str,
    body: bytes,
    *,
    content_type: str = "",
) -> message.Message:
    """The RPC request for an HTTP request: body, then query parameters, then path variables."""
    request = route.request_class()
    document: Any = None
    if _is_http_body(route):
        # The service reads the bytes itself, so a number is never parsed by the edge.
        target = getattr(request, route.body)
        target.content_type = content_type
        target.data = body
        if query:
            _refuse_body_query(route.body, query)
    else:
        document = _parse_body_into(route, request, body)
    if route.body != "*" and query:
        set_query_fields(request, query, bound=set(variables))
    _derive_update_mask(route, request, document, variables)
    set_path_fields(request, variables)
    return request


def carries_json_body(route: Route) -> bool:
    """Whether the route's body is JSON for a message field: what the RPC's HTTP twin takes
    raw (inlet_common.httptwins) and its service parses, so both edges pass bytes."""
    return bool(route.body) and not _is_http_body(route)


def request_with_body(
    route: Route, carried: message.Message, body: bytes, query: str = ""
) -> message.Message:
    """The RPC request for the URL's path fields (`carried`, already set), its query and a
    JSON body, as transcode() builds it: body, then query, then path (the URL wins over the
    body), and a PATCH without update_mask gets the body's keys as its mask."""
    request = route.request_class()
    document = _parse_body_into(route, request, body)
    request.MergeFrom(carried)
    apply_query(route, request, query)
    bound = dict.fromkeys(route.template.variables, "")
    _derive_update_mask(route, request, document, bound)
    return request


def apply_query(route: Route, request: message.Message, query: str) -> None:
    """Set the query's parameters on `request` (its path fields already set, and winning),
    as transcode() does; TranscodeError (INVALID_QUERY) for a parameter naming no field or
    the body, or a value that does not fit. With body "*" every field is the body's, so
    there is no query parameter to set."""
    if not query:
        return
    if route.body == "*":
        for key, _ in parse_qsl(query, keep_blank_values=True):
            raise TranscodeError(
                INVALID_QUERY, f'unknown query parameter "{key}"', field=key, code=UNKNOWN_FIELD
            )
        return
    if _is_http_body(route):
        _refuse_body_query(route.body, query)
    set_query_fields(request, query, bound=set(route.template.variables))


def path_only_request(route: Route, variables: Mapping[str, str]) -> message.Message:
    """The RPC request with only the URL's fields set (for an edge rejection's call)."""
    request = route.request_class()
    set_path_fields(request, variables)
    return request


def path_fields_only(route: Route, request: message.Message) -> message.Message:
    """A request with only the fields `request` took from the URL's path."""
    kept = route.request_class()
    for field_path in route.template.variables:
        chain = resolve_path(descriptor_of(request), field_path.split("."), leaf_scalar=True)
        source: Any = request
        target: Any = kept
        for step in chain[:-1]:
            source, target = getattr(source, step.name), getattr(target, step.name)
        leaf = chain[-1].name
        if chain[-1].is_repeated:
            getattr(target, leaf).extend(getattr(source, leaf))
        else:
            setattr(target, leaf, getattr(source, leaf))
    return kept


def _parse_body_into(route: Route, request: message.Message, body: bytes) -> Any:
    """Merge a JSON body into `request` by the route's body rule; the parsed document."""
    # An empty body is an empty message, as for any other transcoder.
    if not route.body or not body.strip():
        return None
    if holds_raw(descriptor_of(request)):
        # Values of RawJson fields (a mapping) keep their exact text: read with exactjson,
        # and each written in its field's place as {"json": text} for ParseDict.
        document = lift_raw(_body_descriptor(route, request), parse_exact(body))
    else:
        document = parse_json(body)
    if route.body == "*":
        if not isinstance(document, dict):
            raise TranscodeError(
                INVALID_BODY,
                f"request body must be a JSON object, got {kind_of(document)}",
            )
        merge_document(request, document)
    else:
        merge_body_field(request, route.body, document)
    return document


def _is_http_body(route: Route) -> bool:
    """Whether the route's body field is a google.api.HttpBody (raw bytes, not JSON)."""
    if not route.body or route.body == "*":
        return False
    target = route.request_class.DESCRIPTOR.fields_by_name[route.body]
    return target.message_type is not None and target.message_type.full_name == HTTP_BODY


def _refuse_body_query(body_field: str, query: str) -> None:
    for key, _ in parse_qsl(query, keep_blank_values=True):
        if key == body_field or key.startswith(body_field + "."):
            raise TranscodeError(
                INVALID_QUERY, f'unknown query parameter "{key}"', field=key, code=UNKNOWN_FIELD
            )


def _derive_update_mask(
    route: Route, request: message.Message, document: Any, variables: Mapping[str, str]
) -> None:
    """A PATCH without update_mask changes exactly the fields present in its body.

    As grpc-gateway does: the mask is the body's keys (nested objects of plain message
    fields give dotted paths), so the service always receives an explicit mask and an
    absent field is never wiped. Fields bound from the URL path (the resource's name)
    identify the resource and are left out.
    """
    if route.http_method != "PATCH" or route.body in ("", "*"):
        return
    mask_field = descriptor_of(request).fields_by_name.get(UPDATE_MASK)
    if mask_field is None or mask_field.message_type is None:
        return
    if mask_field.message_type.full_name != FIELD_MASK:
        return
    mask = getattr(request, UPDATE_MASK)
    if mask.paths:
        return
    resource = message_of(descriptor_of(request).fields_by_name[route.body])
    prefix = f"{route.body}."
    bound = {v.removeprefix(prefix) for v in variables if v.startswith(prefix)}
    paths = body_paths(resource, document, "") if isinstance(document, dict) else []
    mask.paths.extend(p for p in paths if p not in bound)


def _body_descriptor(route: Route, request: message.Message) -> descriptor.Descriptor | None:
    """The message the body is parsed into (None when the body is a non-message field)."""
    if route.body == "*":
        return descriptor_of(request)
    target = descriptor_of(request).fields_by_name[route.body]
    return target.message_type if is_plain_message(target) else None
