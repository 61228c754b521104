"""Descriptors (with comments) → the OpenAPI 3.1 document of every google.api.http route."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import google.rpc.code_pb2 as code_pb2
import google.rpc.status_pb2 as status_pb2
from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor, descriptor_pb2, descriptor_pool

from inlet_common import envelopes, mediatypes
from inlet_common.httpstatus import REASON_HTTP_STATUS, http_status
from inlet_gateway import limits
from tools.openapi import dialects

JSON = dict[str, Any]
FD = descriptor.FieldDescriptor

OPENAPI_VERSION = "3.1.0"
HTTP_BODY = "google.api.HttpBody"
EVENT_STREAM = (
    "Server-Sent Events: `event: <kind>` with the message's field as JSON in `data:` and its"
    " `position` as `id:` (send it back as `Last-Event-ID` to resume); heartbeats are"
    " comment lines."
)
RAW_JSON = "inlet.type.v1.RawJson"
_HTTP_RULE = cast("Any", annotations_pb2.http)
_VERBS = ("get", "put", "post", "delete", "patch")

# The edge's own answers, possible on any route (inlet_gateway.app and .routes).
_EDGE_400 = "MALFORMED_JSON, INVALID_BODY, INVALID_QUERY, INVALID_PATH (the edge)"
_EDGE_ERRORS: Mapping[int, str] = {
    500: "INTERNAL: a bug; the answer still carries its request id",
    503: "UPSTREAM_UNAVAILABLE: the service could not be reached; safe to retry",
    504: "UPSTREAM_TIMEOUT: the service did not answer in time",
}

_INT32 = {"type": "integer", "format": "int32", "minimum": -(2**31), "maximum": 2**31 - 1}
_UINT32 = {"type": "integer", "format": "uint32", "minimum": 0, "maximum": 2**32 - 1}
_INT64 = {"type": "string", "format": "int64", "pattern": "^-?[0-9]+$"}
_UINT64 = {"type": "string", "format": "uint64", "pattern": "^[0-9]+$"}
_SCALARS: Mapping[int, JSON] = {
    FD.TYPE_STRING: {"type": "string"},
    FD.TYPE_BOOL: {"type": "boolean"},
    FD.TYPE_BYTES: {"type": "string", "contentEncoding": "base64"},
    FD.TYPE_DOUBLE: {"type": "number", "format": "double"},
    FD.TYPE_FLOAT: {"type": "number", "format": "float"},
    FD.TYPE_INT32: _INT32,
    FD.TYPE_SINT32: _INT32,
    FD.TYPE_SFIXED32: _INT32,
    FD.TYPE_UINT32: _UINT32,
    FD.TYPE_FIXED32: _UINT32,
    FD.TYPE_INT64: _INT64,
    FD.TYPE_SINT64: _INT64,
    FD.TYPE_SFIXED64: _INT64,
    FD.TYPE_UINT64: _UINT64,
    FD.TYPE_FIXED64: _UINT64,
}

# Well-known types have their own JSON forms (proto3 JSON mapping).
_WELL_KNOWN: Mapping[str, JSON] = {
    "google.protobuf.Timestamp": {
        "type": "string",
        "format": "date-time",
        "description": 'RFC 3339, e.g. "2026-01-31T12:00:00Z".',
    },
    "google.protobuf.Duration": {
        "type": "string",
        "pattern": "^-?[0-9]+(\\.[0-9]{1,9})?s$",
        "description": 'Seconds with an "s" suffix, e.g. "1.5s", "86400s".',
    },
    "google.protobuf.FieldMask": {
        "type": "string",
        "description": 'Comma-separated field paths, e.g. "display_name,rate_limit".',
    },
    "google.protobuf.Struct": {"type": "object", "additionalProperties": dialects.ANY_JSON},
    "google.protobuf.Value": dialects.ANY_JSON,
    "google.protobuf.ListValue": {"type": "array", "items": dialects.ANY_JSON},
    "google.protobuf.Empty": {"type": "object", "additionalProperties": False},
    "google.protobuf.Any": {
        "type": "object",
        "required": ["@type"],
        "properties": {"@type": {"type": "string"}},
    },
    "google.protobuf.DoubleValue": {"type": "number"},
    "google.protobuf.FloatValue": {"type": "number"},
    "google.protobuf.Int32Value": _INT32,
    "google.protobuf.UInt32Value": _UINT32,
    "google.protobuf.Int64Value": _INT64,
    "google.protobuf.UInt64Value": _UINT64,
    "google.protobuf.BoolValue": {"type": "boolean"},
    "google.protobuf.StringValue": {"type": "string"},
    "google.protobuf.BytesValue": {"type": "string", "contentEncoding": "base64"},
    # A user value carried as its exact text; over HTTP it is the value itself.
    RAW_JSON: dialects.ANY_JSON,
}


# Well-known types a query parameter can set: those whose JSON form is one string or scalar.
_QUERY_WELL_KNOWN = frozenset(
    name
    for name, schema in _WELL_KNOWN.items()
    if schema.get("type") in ("string", "number", "integer", "boolean")
)


def load_pool(
    files: Sequence[descriptor_pb2.FileDescriptorProto],
) -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    for file in files:
        pool.AddSerializedFile(file.SerializeToString())
    return pool


# --- comments ---------------------------------------------------------------------------------


def comments(files: Sequence[descriptor_pb2.FileDescriptorProto]) -> dict[str, str]:
    """Full name (message, field, enum, enum value, service, method) → its leading comment."""
    found: dict[str, str] = {}
    for file in files:
        by_path = {
            tuple(loc.path): _clean(loc.leading_comments)
            for loc in file.source_code_info.location
            if loc.leading_comments
        }
        prefix = f"{file.package}." if file.package else ""
        for path, name in _named_paths(file, prefix):
            if path in by_path:
                found[name] = by_path[path]
    return found


def _named_paths(
    file: descriptor_pb2.FileDescriptorProto, prefix: str
) -> Iterator[tuple[tuple[int, ...], str]]:
    # Field numbers of FileDescriptorProto / DescriptorProto / ServiceDescriptorProto.
    for i, msg in enumerate(file.message_type):
        yield from _message_paths(msg, (4, i), prefix)
    for i, enum in enumerate(file.enum_type):
        yield from _enum_paths(enum, (5, i), prefix)
    for i, service in enumerate(file.service):
        name = prefix + service.name
        yield (6, i), name
        for j, method in enumerate(service.method):
            yield (6, i, 2, j), f"{name}.{method.name}"


def _message_paths(
    msg: descriptor_pb2.DescriptorProto, path: tuple[int, ...], prefix: str
) -> Iterator[tuple[tuple[int, ...], str]]:
    name = prefix + msg.name
    yield path, name
    for i, fld in enumerate(msg.field):
        yield (*path, 2, i), f"{name}.{fld.name}"
    for i, nested in enumerate(msg.nested_type):
        yield from _message_paths(nested, (*path, 3, i), name + ".")
    for i, enum in enumerate(msg.enum_type):
        yield from _enum_paths(enum, (*path, 4, i), name + ".")


def _enum_paths(
    enum: descriptor_pb2.EnumDescriptorProto, path: tuple[int, ...], prefix: str
) -> Iterator[tuple[tuple[int, ...], str]]:
    name = prefix + enum.name
    yield path, name
    for i, value in enumerate(enum.value):
        yield (*path, 2, i), f"{name}.{value.name}"


def _clean(text: str) -> str:
    lines = text.strip("\n").split("\n")
    # protoc keeps the space after "//"; drop the indentation every line shares.
    indent = min((len(ln) - len(ln.lstrip(" ")) for ln in lines if ln.strip()), default=0)
    return "\n".join(ln[indent:].rstrip() for ln in lines).strip()


def summary(comment: str) -> str:
    """The first sentence of a comment."""
    first = comment.split("\n\n")[0].replace("\n", " ")
    match = re.match(r"(.+?\.)(\s|$)", first)
    return (match.group(1) if match else first).strip()


# --- path templates ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PathParameter:
    name: str
    field: str
    # The variable's whole pattern, e.g. workspaces/{workspace}/entityTypes/{entity_type}.
    shape: str
    multi_segment: bool


def openapi_path(template: str) -> tuple[str, list[PathParameter]]:
    """/admin/v1/{name=workspaces/*}:verb → (/admin/v1/workspaces/{workspace}:verb, params).

    Every `*` of a variable becomes a parameter of one segment named after the collection
    before it (workspaces/* → workspace), or after the field when it has none ({token}).
    """
    body, verb = _split_verb(template)
    parts: list[str] = []
    params: list[PathParameter] = []
    used: set[str] = set()
    for segment in _split_top(body.lstrip("/"), "/"):
        if not (segment.startswith("{") and segment.endswith("}")):
            parts.append(segment)
            continue
        field_path, _, pattern = segment[1:-1].partition("=")
        pieces = (pattern or "*").split("/")
        expanded: list[str] = []
        mine: list[tuple[str, bool]] = []
        for index, piece in enumerate(pieces):
            if piece not in ("*", "**"):
                expanded.append(piece)
                continue
            before = pieces[index - 1] if index > 0 and pieces[index - 1] not in "**" else ""
            base = _snake(_singular(before)) if before else field_path.split(".")[-1]
            name = base
            counter = 2
            while name in used:
                name = f"{base}_{counter}"
                counter += 1
            used.add(name)
            expanded.append("{" + name + "}")
            mine.append((name, piece == "**"))
        shape = "/".join(expanded)
        params.extend(PathParameter(n, field_path, shape, multi) for n, multi in mine)
        parts.extend(expanded)
    path = "/" + "/".join(parts) + (f":{verb}" if verb else "")
    return path, params


def _split_verb(template: str) -> tuple[str, str]:
    depth = 0
    cut = -1
    last_slash = template.rfind("/")
    for index, char in enumerate(template):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == ":" and depth == 0 and index > last_slash:
            cut = index
    if cut < 0 or "}" in template[cut:]:
        return template, ""
    return template[:cut], template[cut + 1 :]


def _split_top(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    start = 0
    for index, char in enumerate(text):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == sep and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return parts


def _singular(word: str) -> str:
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("sses", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _snake(word: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", word).lower()


# --- the document -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Binding:
    verb: str
    template: str
    body: str
    response_body: str


def bindings(method: descriptor.MethodDescriptor) -> list[Binding]:
    """Every HTTP binding of an RPC (none when it has no google.api.http annotation)."""
    options = method.GetOptions()
    if not options.HasExtension(_HTTP_RULE):
        return []
    found: list[Binding] = []
    pending: list[http_pb2.HttpRule] = [options.Extensions[_HTTP_RULE]]
    while pending:
        rule = pending.pop(0)
        pending.extend(rule.additional_bindings)
        kind = rule.WhichOneof("pattern")
        if kind is None:
            continue
        if kind == "custom":
            verb, template = rule.custom.kind.lower(), rule.custom.path
        else:
            verb, template = kind, str(getattr(rule, kind))
        found.append(Binding(verb, template, rule.body, rule.response_body))
    return found


class Generator:
    """Builds the document; message schemas become components as they are reached."""

    def __init__(self, pool: descriptor_pool.DescriptorPool, notes: Mapping[str, str]) -> None:
        self.pool = pool
        self.notes = notes
        self.schemas: JSON = {}
        self.operation_ids: set[str] = set()

    # --- messages → JSON Schema ----------------------------------------------------------------

    def message_schema(self, msg: descriptor.Descriptor) -> JSON:
        """A reference to the message's component (or its well-known JSON form)."""
        known = _WELL_KNOWN.get(msg.full_name)
        if known is not None:
            return dict(known)
        if msg.full_name not in self.schemas:
            self.schemas[msg.full_name] = {}  # placeholder: recursive messages terminate
            self.schemas[msg.full_name] = self._object(msg)
        return {"$ref": f"#/components/schemas/{msg.full_name}"}

    def _object(
        self, msg: descriptor.Descriptor, *, leave_out: frozenset[str] = frozenset()
    ) -> JSON:
        properties: JSON = {}
        for fd in msg.fields:
            if fd.name in leave_out:
                continue
            properties[fd.name] = self.field_schema(fd)
        schema: JSON = {"type": "object", "properties": properties, "additionalProperties": False}
        note = self.notes.get(msg.full_name)
        if note:
            schema["description"] = note
        oneofs = [o for o in msg.oneofs if not _synthetic(o)]
        if oneofs:
            schema["description"] = (
                schema.get("description", "")
                + "\n\n"
                + "; ".join("at most one of " + ", ".join(f.name for f in o.fields) for o in oneofs)
            ).strip()
        return schema

    def field_schema(self, fd: FD, *, element: bool = False, described: bool = True) -> JSON:
        """The JSON form of a field (of one element of it when `element`), with its comment
        as description when `described`."""
        if not element and _is_map(fd):
            entry = _message_type(fd)
            value_schema = self.field_schema(entry.fields_by_name["value"], element=True)
            schema: JSON = {"type": "object", "additionalProperties": value_schema}
        elif not element and fd.is_repeated:
            schema = {"type": "array", "items": self.field_schema(fd, element=True)}
        elif fd.message_type is not None:
            schema = self.message_schema(fd.message_type)
        elif fd.enum_type is not None:
            schema = self.enum_schema(fd.enum_type)
        else:
            schema = dict(_SCALARS[fd.type])
        if element or not described:
            return schema
        note = self.notes.get(fd.full_name)
        if note:
            schema = _describe(schema, note)
        return schema

    def enum_schema(self, enum: descriptor.EnumDescriptor) -> JSON:
        lines = [
            f"- `{v.name}`: {self.notes.get(f'{enum.full_name}.{v.name}', '')}".rstrip(": ")
            for v in enum.values
        ]
        description = self.notes.get(enum.full_name, "")
        return {
            "type": "string",
            "enum": [v.name for v in enum.values],
            "description": (description + "\n\n" + "\n".join(lines)).strip(),
        }

    # --- routes → operations -------------------------------------------------------------------

    def operation(
        self,
        service: descriptor.ServiceDescriptor,
        method: descriptor.MethodDescriptor,
        binding: Binding,
    ) -> tuple[str, JSON]:
        rpc = method.full_name
        dialect = dialects.dialect_of(rpc)
        path, path_params = openapi_path(binding.template)
        note = self.notes.get(rpc, "")
        operation: JSON = {
            "operationId": self._operation_id(service, method),
            "tags": [service.name],
            "summary": summary(note) or method.name,
            "description": (note + f"\n\ngRPC: `{rpc}`").strip(),
        }
        parameters = [self._path_parameter(method, p) for p in path_params]
        bound = {p.field for p in path_params}
        body_field = _body_field(method, binding)
        if binding.body != "*":
            parameters.extend(self._query_parameters(method.input_type, bound, binding.body))
        parameters.extend({"$ref": f"#/components/parameters/{h}"} for h in dialect.headers)
        parameters.append({"$ref": "#/components/parameters/X-Request-Id"})
        operation["parameters"] = parameters
        if binding.body:
            operation["requestBody"] = self._request_body(method, binding, body_field, bound)
        security = dialects.security_of(rpc, service.full_name)
        if security is not None:
            operation["security"] = security
        operation["responses"] = self._responses(service, method, binding)
        return path, operation

    def _operation_id(
        self, service: descriptor.ServiceDescriptor, method: descriptor.MethodDescriptor
    ) -> str:
        candidate = method.name
        if candidate in self.operation_ids:
            candidate = f"{service.name}_{method.name}"
        counter = 2
        base = candidate
        while candidate in self.operation_ids:
            candidate = f"{base}_{counter}"
            counter += 1
        self.operation_ids.add(candidate)
        return candidate

    def _path_parameter(self, method: descriptor.MethodDescriptor, param: PathParameter) -> JSON:
        parts: list[str] = []
        if param.shape != "{" + param.name + "}":
            parts.append(f"A segment of `{param.field}` = `{param.shape}`.")
        else:
            top = param.field.split(".")[0]
            parts.append(self.notes.get(f"{method.input_type.full_name}.{top}", param.name))
        if param.multi_segment:
            parts.append("May span several segments.")
        return {
            "name": param.name,
            "in": "path",
            "required": True,
            "description": " ".join(parts),
            "schema": {"type": "string", "minLength": 1},
        }

    def _query_parameters(
        self, msg: descriptor.Descriptor, bound: set[str], body: str
    ) -> list[JSON]:
        found: list[JSON] = []
        for path, fd in _leaves(msg, "", frozenset({msg.full_name})):
            top = path.split(".")[0]
            if path in bound or top == body or any(b.startswith(path + ".") for b in bound):
                continue
            schema = self.field_schema(fd, described=False)
            parameter: JSON = {"name": path, "in": "query", "required": False, "schema": schema}
            if schema.get("type") == "array":
                parameter["explode"] = True
            note = self.notes.get(fd.full_name)
            if note:
                parameter["description"] = note
            found.append(parameter)
        return found

    def _request_body(
        self,
        method: descriptor.MethodDescriptor,
        binding: Binding,
        body_field: FD | None,
        bound: set[str],
    ) -> JSON:
        dialect = dialects.dialect_of(method.full_name)
        media: JSON
        if body_field is not None and _is_http_body(body_field):
            schema = dialect.request_body or _describe(
                dict(dialects.ANY_JSON), "No schema is declared for this raw body."
            )
            media = {"schema": schema}
            if dialect.request_examples:
                media["examples"] = dict(dialect.request_examples)
            return {"required": True, "content": {"application/json": media}}
        if binding.body == "*":
            top = {b.split(".")[0] for b in bound}
            schema = self._object(method.input_type, leave_out=frozenset(top))
            schema.pop("description", None)
        else:
            assert body_field is not None
            schema = self.field_schema(body_field)
        return {
            "required": False,
            "description": "Proto3 JSON; an empty body is an empty message.",
            "content": {"application/json": {"schema": schema}},
        }

    def _responses(
        self,
        service: descriptor.ServiceDescriptor,
        method: descriptor.MethodDescriptor,
        binding: Binding,
    ) -> JSON:
        rpc = method.full_name
        dialect = dialects.dialect_of(rpc)
        every = ["X-Request-Id", "X-Client-Request-Id", *dialect.response_headers]
        output = method.output_type
        if binding.response_body:
            schema = self.field_schema(output.fields_by_name[binding.response_body])
        elif output.full_name == HTTP_BODY:
            schema = _describe(dict(dialects.ANY_JSON), "The service's raw answer.")
        else:
            schema = self.message_schema(output)
        success: JSON = {
            "description": dialect.success_description or "OK",
            "headers": _headers([*every, *dialect.success_headers]),
        }
        if method.server_streaming:
            # The gateway serves a server-streaming RPC as Server-Sent Events (one event per
            # message; inlet_common.sse).
            success["content"] = {
                "text/event-stream": {"schema": _describe({"type": "string"}, EVENT_STREAM)}
            }
        elif dialect.success_status != 204:  # No Content has none
            success["content"] = {"application/json": {"schema": schema}}
        responses: JSON = {str(dialect.success_status): success}
        content_type, envelope_schema = _envelope(rpc)
        for status, reasons in sorted(self._error_statuses(service, method, binding).items()):
            headers = list(every)
            if status in (429, 503):
                headers.append("Retry-After")
            responses[str(status)] = {
                "description": "; ".join(reasons),
                "headers": _headers(headers),
                "content": {content_type: {"schema": envelope_schema}},
            }
        return responses

    def _error_statuses(
        self,
        service: descriptor.ServiceDescriptor,
        method: descriptor.MethodDescriptor,
        binding: Binding,
    ) -> dict[int, list[str]]:
        """HTTP status → what answers with it: the RPC's and service's documented errors
        (their comments' google.rpc.Code names and reasons) and the edge's own."""
        found: dict[int, list[str]] = {400: [_EDGE_400]}
        documented = _documented_errors(self.notes.get(method.full_name, ""))
        documented += [
            name
            for name in _documented_errors(self.notes.get(service.full_name, ""), section=False)
            if name not in documented
        ]
        for name in documented:
            status = (
                REASON_HTTP_STATUS[name]
                if name in REASON_HTTP_STATUS
                else http_status(code_pb2.Code.Value(name))
            )
            found.setdefault(status, []).append(name)
        if binding.body:
            cap = limits.body_limit(method.full_name)
            found.setdefault(413, []).append(
                f"PAYLOAD_TOO_LARGE: body over {limits.describe(cap)} ({cap} bytes)"
            )
        if binding.body:
            found.setdefault(408, []).append(
                "REQUEST_TIMEOUT: the body did not arrive in time (a slow client)"
            )
            if method.full_name not in mediatypes.OWN_MEDIA_TYPES:
                found.setdefault(415, []).append(
                    "UNSUPPORTED_MEDIA_TYPE: a Content-Type other than application/json"
                )
        found.setdefault(431, []).append(
            "REQUEST_HEADER_FIELDS_TOO_LARGE: the header block is over 64 KiB"
        )
        for status, text in _EDGE_ERRORS.items():
            found.setdefault(status, []).append(text)
        return found

    # --- the gateway's own routes --------------------------------------------------------------

    def gateway_paths(self) -> JSON:
        def plain(operation_id: str, text: str, content_type: str, schema: JSON) -> JSON:
            return {
                "operationId": operation_id,
                "tags": ["Gateway"],
                "summary": text,
                "responses": {
                    "200": {
                        "description": "OK",
                        "headers": _headers(["X-Request-Id", "X-Client-Request-Id"]),
                        "content": {content_type: {"schema": schema}},
                    }
                },
            }

        health = "Liveness of the gateway (it answers without calling any service)."
        return {
            "/healthz": {
                "get": plain("Healthz", health, "application/json", dialects.HEALTH_BODY),
                "head": plain("HeadHealthz", health, "application/json", dialects.HEALTH_BODY),
            },
            "/openapi.json": {
                "get": plain(
                    "GetOpenApiDocument", "This document.", "application/json", {"type": "object"}
                )
            },
            "/docs": {
                "get": plain(
                    "GetDocs",
                    "This document as a page (self-contained HTML).",
                    "text/html",
                    {"type": "string"},
                )
            },
        }

    # --- all of it -----------------------------------------------------------------------------

    def document(self, services: Sequence[descriptor.ServiceDescriptor]) -> JSON:
        paths: JSON = {}
        tags: list[JSON] = []
        for service in services:
            routed = False
            for method in service.methods:
                for binding in bindings(method):
                    path, operation = self.operation(service, method, binding)
                    if binding.verb in paths.get(path, {}):
                        raise ValueError(f"{binding.verb.upper()} {path} is bound twice")
                    paths.setdefault(path, {})[binding.verb] = operation
                    routed = True
            if routed:
                tags.append(
                    {"name": service.name, "description": self.notes.get(service.full_name, "")}
                )
        paths.update(self.gateway_paths())
        tags.append({"name": "Gateway", "description": "The HTTP edge's own routes."})
        schemas = dict(sorted(self.schemas.items()))
        schemas.update(dialects.ERROR_SCHEMAS)
        return {
            "openapi": OPENAPI_VERSION,
            "info": {
                "title": dialects.TITLE,
                "version": dialects.VERSION,
                "description": dialects.DESCRIPTION,
            },
            "tags": tags,
            "paths": paths,
            "components": {
                "schemas": schemas,
                "parameters": dict(dialects.HEADER_PARAMETERS),
                "headers": dict(dialects.RESPONSE_HEADERS),
                "securitySchemes": dict(dialects.SECURITY_SCHEMES),
            },
        }


def build(descriptor_set: descriptor_pb2.FileDescriptorSet) -> JSON:
    """The document of every annotated RPC of every service in the set, in file order."""
    files = list(descriptor_set.file)
    pool = load_pool(files)
    services = [
        pool.FindServiceByName(f"{file.package}.{service.name}" if file.package else service.name)
        for file in sorted(files, key=lambda f: f.name)
        for service in file.service
    ]
    leading = dialects.LEADING_SERVICES
    services.sort(
        key=lambda s: leading.index(s.full_name) if s.full_name in leading else len(leading)
    )
    return Generator(pool, comments(files)).document(services)


# --- helpers ----------------------------------------------------------------------------------

_CODE_NAMES = frozenset(code_pb2.Code.DESCRIPTOR.values_by_name) - {"OK"}


def _documented_errors(comment: str, *, section: bool = True) -> list[str]:
    """google.rpc.Code names and status-changing reasons a comment names (after "Errors"
    when `section`), in order of first mention."""
    text = comment
    if section:
        cut = text.find("Errors")
        if cut < 0:
            return []
        text = text[cut:]
    found: list[str] = []
    for word in re.findall(r"\b[A-Z][A-Z_]+[A-Z]\b", text):
        if (word in _CODE_NAMES or word in REASON_HTTP_STATUS) and word not in found:
            found.append(word)
    return found


def _envelope(rpc: str) -> tuple[str, JSON]:
    """The content type and body schema of the RPC's error answers, read from the gateway's
    own envelope for it (an envelope with no declared schema is any JSON)."""
    envelope = envelopes.envelope_for(rpc)
    sample = envelopes.ErrorContext(
        status_pb2.Status(code=code_pb2.NOT_FOUND, message="x"), 404, "req_x"
    )
    content_type = envelope(sample).content_type
    name = dialects.ENVELOPE_SCHEMAS.get(envelope)
    schema = {"$ref": f"#/components/schemas/{name}"} if name else dict(dialects.ANY_JSON)
    return content_type, schema


def _headers(names: Sequence[str]) -> JSON:
    return {name: {"$ref": f"#/components/headers/{name}"} for name in dict.fromkeys(names)}


def _describe(schema: JSON, note: str) -> JSON:
    if not note:
        return schema
    if "$ref" in schema:
        # 3.1 allows siblings of $ref; keep the referenced schema's own text intact.
        return {"$ref": schema["$ref"], "description": note}
    return {**schema, "description": note}


def _leaves(
    msg: descriptor.Descriptor, prefix: str, seen: frozenset[str]
) -> Iterator[tuple[str, FD]]:
    """Dotted paths of the fields a query string can set (grpc-gateway's rules, and the
    gateway's): scalars, enums and repeated ones, the well-known types written as one
    string or scalar, and the fields of plain (not repeated) messages."""
    for fd in msg.fields:
        path = prefix + fd.name
        inner = fd.message_type
        if inner is None:
            yield path, fd
        elif inner.full_name in _QUERY_WELL_KNOWN:
            if not fd.is_repeated:
                yield path, fd
        elif not (
            fd.is_repeated  # maps are repeated entries too
            or inner.full_name in _WELL_KNOWN
            or inner.full_name in seen
            or inner.full_name == HTTP_BODY
        ):
            yield from _leaves(inner, path + ".", seen | {inner.full_name})


def _body_field(method: descriptor.MethodDescriptor, binding: Binding) -> FD | None:
    if binding.body in ("", "*"):
        return None
    return method.input_type.fields_by_name[binding.body]


def _is_http_body(fd: FD) -> bool:
    return fd.message_type is not None and fd.message_type.full_name == HTTP_BODY


def _is_map(fd: FD) -> bool:
    return fd.message_type is not None and fd.message_type.GetOptions().map_entry


def _message_type(fd: FD) -> descriptor.Descriptor:
    assert fd.message_type is not None, fd.full_name
    return fd.message_type


def _synthetic(oneof: descriptor.OneofDescriptor) -> bool:
    """A proto3 `optional` field's one-field oneof, which is no real choice."""
    return len(oneof.fields) == 1 and oneof.fields[0].has_presence and oneof.name.startswith("_")
