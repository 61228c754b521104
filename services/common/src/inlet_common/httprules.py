"""The HTTP route table, read from google.api.http annotations, and JSON ↔ request transcoding."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, cast
from urllib.parse import parse_qsl, unquote

import orjson
from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor, field_mask_pb2, json_format, message, message_factory

from inlet_common import exactjson
from inlet_common.exactjson import kind_of
from inlet_common.protojson import RAW_JSON, holds_raw

# Reasons of the edge's own 400s (ErrorInfo reason, and x-inlet-edge-error to the service).
MALFORMED_JSON = "MALFORMED_JSON"
INVALID_BODY = "INVALID_BODY"
INVALID_QUERY = "INVALID_QUERY"
INVALID_PATH = "INVALID_PATH"

# The request field a PATCH's mask goes in (AIP-134), and its type.
UPDATE_MASK = "update_mask"
_FIELD_MASK = "google.protobuf.FieldMask"

# Codes of a single bad field (BadRequest.FieldViolation.reason).
UNKNOWN_FIELD = "UNKNOWN_FIELD"
INVALID_TYPE = "INVALID_TYPE"
HTTP_BODY = "google.api.HttpBody"

_VERBS = ("get", "put", "post", "delete", "patch")
# googleapis-common-protos types the extension as a plain FieldDescriptor.
_HTTP_RULE = cast("Any", annotations_pb2.http)


class TemplateError(ValueError):
    """A path template in an annotation is not valid google.api.http syntax."""


class TranscodeError(Exception):
    """The HTTP request does not fit the RPC's request message."""

    def __init__(
        self, reason: str, message: str, *, field: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.field = field
        # The per-field code; the reason itself when the problem is not one field's.
        self.code = code or reason


# --- path templates -----------------------------------------------------------------------


@dataclass(frozen=True)
class PathTemplate:
    """A compiled google.api.http path template, e.g. /v1/{name=workspaces/*}:verb."""

    source: str
    regex: re.Pattern[str]
    # Regex group name → dotted request field path ("ingest_endpoint.name").
    groups: Mapping[str, str]
    # Variables that may span several segments keep their "/" undecoded.
    multi_segment: frozenset[str]
    literal_length: int
    # The custom verb after the last segment ("rotateToken" of .../{name=...}:rotateToken).
    verb: str = ""

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(self.groups.values())

    def match(self, raw_path: str) -> dict[str, str] | None:
        """Field path → decoded value, or None when `raw_path` (still %-encoded) differs."""
        found = self.regex.fullmatch(raw_path)
        if found is None:
            return None
        values: dict[str, str] = {}
        for group, field_path in self.groups.items():
            raw = found.group(group)
            if group in self.multi_segment:
                # Reserved expansion: "/" separates segments, an encoded %2F stays encoded.
                raw = re.sub("%2[Ff]", "%252F", raw)
            values[field_path] = unquote(raw)
        return values


_FIELD_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_LITERAL = re.compile(r"[^/{}*=:]+")


def _split_top(text: str, sep: str) -> list[str]:
    """Split on `sep` outside braces."""
    parts: list[str] = []
    depth = 0
    start = 0
    for index, char in enumerate(text):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth < 0:
                raise TemplateError("unbalanced '}'")
        elif char == sep and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    if depth != 0:
        raise TemplateError("unbalanced '{'")
    parts.append(text[start:])
    return parts


def _segment_regex(segment: str, where: str) -> tuple[str, bool, int]:
    """(regex, spans several segments, literal characters) for one non-variable segment."""
    if segment == "*":
        return "[^/]+", False, 0
    if segment == "**":
        return ".*", True, 0
    if not _LITERAL.fullmatch(segment):
        raise TemplateError(f"bad segment {segment!r} in {where!r}")
    return re.escape(segment), False, len(segment)


def compile_template(source: str) -> PathTemplate:
    """Compile a path template; `*` is one segment, `**` the rest, `{a.b=x/*}` binds a.b."""
    if not source.startswith("/"):
        raise TemplateError(f"template must start with '/': {source!r}")
    body = source[1:]
    verb = ""
    # A ":verb" suffix sits after the last segment, outside any variable.
    tail = _split_top(body, "/")[-1]
    if ":" in _strip_braces(tail):
        cut = len(body) - len(tail) + _last_top_colon(tail)
        body, verb = body[:cut], body[cut + 1 :]
        if not _LITERAL.fullmatch(verb):
            raise TemplateError(f"bad verb in {source!r}")
    pieces: list[str] = []
    groups: dict[str, str] = {}
    multi: set[str] = set()
    literal_length = 0
    for segment in _split_top(body, "/"):
        if segment.startswith("{"):
            if not segment.endswith("}"):
                raise TemplateError(f"bad variable {segment!r} in {source!r}")
            name, _, pattern = segment[1:-1].partition("=")
            if not _FIELD_PATH.fullmatch(name):
                raise TemplateError(f"bad field path {name!r} in {source!r}")
            if name in groups.values():
                raise TemplateError(f"{name!r} bound twice in {source!r}")
            inner: list[str] = []
            spans = False
            for sub in (pattern or "*").split("/"):
                regex, sub_spans, length = _segment_regex(sub, source)
                inner.append(regex)
                spans = spans or sub_spans or len(pattern.split("/")) > 1
                literal_length += length
            group = f"v{len(groups)}"
            groups[group] = name
            if spans:
                multi.add(group)
            pieces.append(f"(?P<{group}>{'/'.join(inner)})")
        else:
            regex, _, length = _segment_regex(segment, source)
            literal_length += length
            pieces.append(regex)
    pattern_text = "/" + "/".join(pieces) + (":" + re.escape(verb) if verb else "")
    return PathTemplate(
        source=source,
        regex=re.compile(pattern_text),
        groups=groups,
        multi_segment=frozenset(multi),
        literal_length=literal_length + len(verb),
        verb=verb,
    )


def _strip_braces(text: str) -> str:
    return re.sub(r"\{[^}]*\}", "", text)


def _last_top_colon(segment: str) -> int:
    depth = 0
    last = -1
    for index, char in enumerate(segment):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == ":" and depth == 0:
            last = index
    return last


# --- the route table -----------------------------------------------------------------------


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
                        _resolve(method.input_type, variable.split("."), leaf_scalar=True)
                    if binding.body not in ("", "*"):
                        _resolve(method.input_type, [binding.body], leaf_scalar=False)
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


def _field_named(msg: descriptor.Descriptor, name: str) -> descriptor.FieldDescriptor | None:
    found = msg.fields_by_name.get(name)
    if found is not None:
        return found
    for candidate in msg.fields:
        if candidate.json_name == name:
            return candidate
    return None


def _resolve(
    msg: descriptor.Descriptor, parts: Sequence[str], *, leaf_scalar: bool
) -> list[descriptor.FieldDescriptor]:
    """The fields along a dotted path; raises KeyError naming the first unknown part."""
    chain: list[descriptor.FieldDescriptor] = []
    current: descriptor.Descriptor | None = msg
    for index, part in enumerate(parts):
        if current is None or current.full_name in _WELL_KNOWN:
            raise KeyError(".".join(parts[: index + 1]))
        found = _field_named(current, part)
        if found is None:
            raise KeyError(".".join(parts[: index + 1]))
        last = index == len(parts) - 1
        if not last and (found.is_repeated or found.message_type is None):
            raise KeyError(".".join(parts[: index + 1]))
        if last and leaf_scalar and _is_map(found):
            raise KeyError(".".join(parts))
        chain.append(found)
        current = found.message_type
    return chain


# --- transcoding -----------------------------------------------------------------------------


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
        _apply_query(request, query, bound=set(variables))
    _derive_update_mask(route, request, document, variables)
    _apply_path(request, variables)
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
    _apply_query(request, query, bound=set(route.template.variables))


def _parse_body_into(route: Route, request: message.Message, body: bytes) -> Any:
    """Merge a JSON body into `request` by the route's body rule; the parsed document."""
    # An empty body is an empty message, as for any other transcoder.
    if not route.body or not body.strip():
        return None
    if holds_raw(_desc(request)):
        # Values of RawJson fields (a mapping) keep their exact text: read with exactjson,
        # and each written in its field's place as {"json": text} for ParseDict.
        document = _lift_raw(_body_descriptor(route, request), parse_exact(body))
    else:
        document = parse_json(body)
    if route.body == "*":
        if not isinstance(document, dict):
            raise TranscodeError(
                INVALID_BODY,
                f"request body must be a JSON object, got {kind_of(document)}",
            )
        _merge(request, document)
    else:
        _merge_body_field(request, route.body, document)
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
    mask_field = _desc(request).fields_by_name.get(UPDATE_MASK)
    if mask_field is None or mask_field.message_type is None:
        return
    if mask_field.message_type.full_name != _FIELD_MASK:
        return
    mask = getattr(request, UPDATE_MASK)
    if mask.paths:
        return
    resource = _message_type(_desc(request).fields_by_name[route.body])
    prefix = f"{route.body}."
    bound = {v.removeprefix(prefix) for v in variables if v.startswith(prefix)}
    paths = _body_paths(resource, document, "") if isinstance(document, dict) else []
    mask.paths.extend(p for p in paths if p not in bound)


def _body_paths(msg: descriptor.Descriptor, document: dict[str, Any], path: str) -> list[str]:
    """Proto field paths of the keys of a JSON object already parsed into `msg`."""
    found: list[str] = []
    for key, value in document.items():
        fd = _field_named(msg, key)
        if fd is None:
            continue  # cannot happen: the body was parsed into msg already
        here = _join(path, fd.name)
        raw = fd.message_type is not None and fd.message_type.full_name == RAW_JSON
        if _is_plain_message(fd) and not raw and not fd.is_repeated and isinstance(value, dict):
            # An object names its own keys; an empty one names nothing (a RawJson value is
            # one field, whatever it holds).
            found.extend(_body_paths(_message_type(fd), value, here))
        else:
            found.append(here)
    return found


def parse_exact(body: bytes) -> Any:
    """parse_json, numbers exact (inlet_common.exactjson)."""
    try:
        return exactjson.loads(body)
    except exactjson.DecodeError as error:
        raise TranscodeError(MALFORMED_JSON, f"request body is not valid JSON: {error}") from None


def _body_descriptor(route: Route, request: message.Message) -> descriptor.Descriptor | None:
    """The message the body is parsed into (None when the body is a non-message field)."""
    if route.body == "*":
        return _desc(request)
    target = _desc(request).fields_by_name[route.body]
    return target.message_type if _is_plain_message(target) else None


def _lift_raw(msg: descriptor.Descriptor | None, document: Any) -> Any:
    """`document` with each RawJson field's value as {"json": its exact text}, and every
    other number as a plain int or float (ParseDict's types)."""
    if msg is None or not isinstance(document, dict):
        return _plain(document)
    lifted: dict[str, Any] = {}
    for key, value in document.items():
        fd = _field_named(msg, key)
        inner = fd.message_type if fd is not None else None
        if fd is None or inner is None or value is None:
            lifted[key] = _plain(value)
        elif inner.full_name == RAW_JSON:
            lifted[key] = _raw_value(fd, value)
        elif _is_map(fd) and isinstance(value, dict):
            value_fd = inner.fields_by_name["value"]
            lifted[key] = {k: _lift_one(value_fd, v) for k, v in value.items()}
        elif fd.is_repeated and isinstance(value, list):
            lifted[key] = [_lift_one(fd, v) for v in value]
        else:
            lifted[key] = _lift_one(fd, value)
    return lifted


def _lift_one(fd: descriptor.FieldDescriptor, value: Any) -> Any:
    inner = fd.message_type
    if inner is not None and inner.full_name == RAW_JSON:
        return {"json": exactjson.dumps(value).decode()}
    if inner is not None and _is_plain_message(fd):
        return _lift_raw(inner, value)
    return _plain(value)


def _raw_value(fd: descriptor.FieldDescriptor, value: Any) -> Any:
    if fd.is_repeated and isinstance(value, list):
        return [{"json": exactjson.dumps(v).decode()} for v in value]
    return {"json": exactjson.dumps(value).decode()}


def _plain(value: Any) -> Any:
    if isinstance(value, exactjson.Number):
        return float(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def path_only_request(route: Route, variables: Mapping[str, str]) -> message.Message:
    """The RPC request with only the URL's fields set (for an edge rejection's call)."""
    request = route.request_class()
    _apply_path(request, variables)
    return request


def parse_json(body: bytes) -> Any:
    """The JSON document in `body`; MALFORMED_JSON when it is not valid JSON."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise TranscodeError(
            MALFORMED_JSON,
            f"request body is not valid JSON: {error.msg}"
            f" (line {error.lineno}, column {error.colno})",
        ) from None


def _merge(request: message.Message, document: dict[str, Any]) -> None:
    try:
        json_format.ParseDict(document, request)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as error:
        problem = _locate(_desc(request), document, "")
        if problem is None:
            raise TranscodeError(INVALID_BODY, f"request body does not fit: {error}") from None
        path, code, text = problem
        raise TranscodeError(INVALID_BODY, text, field=path or None, code=code) from None


def _merge_body_field(request: message.Message, name: str, document: Any) -> None:
    target = _desc(request).fields_by_name[name]
    if _is_plain_message(target) and not target.is_repeated and not isinstance(document, dict):
        raise TranscodeError(
            INVALID_BODY, f"request body must be a JSON object, got {kind_of(document)}"
        )
    try:
        json_format.ParseDict({name: document}, request)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as error:
        problem: tuple[str, str, str] | None
        if _is_plain_message(target) and isinstance(document, dict):
            problem = _locate(_message_type(target), document, "")
        else:
            # The body is the field itself: it is the whole body that has the wrong shape.
            problem = ("", INVALID_TYPE, f"request body must be {_expected(target)}")
        if problem is None:
            raise TranscodeError(INVALID_BODY, f"request body does not fit: {error}") from None
        path, code, text = problem
        raise TranscodeError(INVALID_BODY, text, field=path or None, code=code) from None


def path_fields_only(route: Route, request: message.Message) -> message.Message:
    """A request with only the fields `request` took from the URL's path."""
    kept = route.request_class()
    for field_path in route.template.variables:
        chain = _resolve(_desc(request), field_path.split("."), leaf_scalar=True)
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


def _apply_query(request: message.Message, query: str, *, bound: set[str]) -> None:
    grouped: dict[str, list[str]] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        grouped.setdefault(key, []).append(value)
    for key, values in grouped.items():
        try:
            chain = _resolve(_desc(request), key.split("."), leaf_scalar=True)
        except KeyError:
            raise TranscodeError(
                INVALID_QUERY, f'unknown query parameter "{key}"', field=key, code=UNKNOWN_FIELD
            ) from None
        if ".".join(f.name for f in chain) in bound:
            continue  # the URL path wins
        leaf = chain[-1]
        if leaf.message_type is not None and leaf.message_type.full_name == _FIELD_MASK:
            # grpc-gateway's form: comma-separated paths, the parameter possibly repeated.
            paths = [p.strip() for value in values for p in value.split(",") if p.strip()]
            target = request
            for step in chain:
                target = getattr(target, step.name)
            cast(field_mask_pb2.FieldMask, target).paths.extend(paths)
            continue
        if leaf.message_type is not None and leaf.message_type.full_name not in _QUERY_MESSAGES:
            raise TranscodeError(
                INVALID_QUERY,
                f'query parameter "{key}" cannot set a message field',
                field=key,
                code=INVALID_TYPE,
            )
        if not leaf.is_repeated and len(values) > 1:
            raise TranscodeError(
                INVALID_QUERY, f'query parameter "{key}" given more than once', field=key
            )
        try:
            converted = [_from_text(leaf, value) for value in values]
            _set_leaf(request, chain, converted if leaf.is_repeated else converted[0])
        except (json_format.ParseError, ValueError, TypeError):
            raise TranscodeError(
                INVALID_QUERY,
                f'query parameter "{key}" must be {_expected(leaf, element=True)}',
                field=key,
                code=INVALID_TYPE,
            ) from None


def _apply_path(request: message.Message, variables: Mapping[str, str]) -> None:
    for field_path, value in variables.items():
        chain = _resolve(_desc(request), field_path.split("."), leaf_scalar=True)
        leaf = chain[-1]
        try:
            _set_leaf(request, chain, [value] if leaf.is_repeated else _from_text(leaf, value))
        except (json_format.ParseError, ValueError, TypeError):
            raise TranscodeError(
                INVALID_PATH,
                f'path segment "{field_path}" must be {_expected(leaf, element=True)}',
                field=field_path,
                code=INVALID_TYPE,
            ) from None


def _set_leaf(
    request: message.Message, chain: Sequence[descriptor.FieldDescriptor], value: Any
) -> None:
    target = request
    for step in chain[:-1]:
        target = getattr(target, step.name)
    # ParseDict does the proto3-JSON conversion of strings to ints, enums, bytes, wrappers.
    json_format.ParseDict({chain[-1].name: value}, target)


def _from_text(leaf: descriptor.FieldDescriptor, text: str) -> Any:
    """URL text as the JSON value ParseDict expects for `leaf`."""
    if leaf.type == descriptor.FieldDescriptor.TYPE_BOOL or (
        leaf.message_type is not None and leaf.message_type.full_name == "google.protobuf.BoolValue"
    ):
        if text in ("true", "false"):
            return text == "true"
        raise ValueError(text)
    return text


# --- locating the part of a JSON document that does not fit -------------------------------

_WELL_KNOWN = {
    "google.protobuf.Struct": "an object",
    "google.protobuf.Value": "any JSON value",
    "google.protobuf.ListValue": "an array",
    "google.protobuf.Timestamp": 'an RFC 3339 timestamp string, e.g. "2024-01-31T12:00:00Z"',
    "google.protobuf.Duration": 'a duration string, e.g. "1.5s"',
    "google.protobuf.FieldMask": 'a field mask string, e.g. "a,b.c"',
    "google.protobuf.Any": 'an object with "@type"',
    "google.protobuf.Empty": "an empty object",
}
_SCALAR_WRAPPERS = {
    "google.protobuf.DoubleValue": "a number",
    "google.protobuf.FloatValue": "a number",
    "google.protobuf.Int64Value": "an integer",
    "google.protobuf.UInt64Value": "an integer",
    "google.protobuf.Int32Value": "an integer",
    "google.protobuf.UInt32Value": "an integer",
    "google.protobuf.BoolValue": "true or false",
    "google.protobuf.StringValue": "a string",
    "google.protobuf.BytesValue": "a base64 string",
}
_WELL_KNOWN.update(_SCALAR_WRAPPERS)
# Messages a query parameter can set: those whose JSON form is one string or scalar.
_QUERY_MESSAGES = {
    *_SCALAR_WRAPPERS,
    "google.protobuf.Timestamp",
    "google.protobuf.Duration",
}

_FD = descriptor.FieldDescriptor
_SCALAR_KINDS = {
    _FD.TYPE_STRING: "a string",
    _FD.TYPE_BOOL: "true or false",
    _FD.TYPE_BYTES: "a base64 string",
    _FD.TYPE_DOUBLE: "a number",
    _FD.TYPE_FLOAT: "a number",
}


def _desc(msg: message.Message) -> descriptor.Descriptor:
    # The stubs type DESCRIPTOR as a union with upb's class, which has the same surface.
    return cast(descriptor.Descriptor, msg.DESCRIPTOR)


def _message_type(fd: descriptor.FieldDescriptor) -> descriptor.Descriptor:
    assert fd.message_type is not None, fd.full_name
    return fd.message_type


def _is_map(fd: descriptor.FieldDescriptor) -> bool:
    return fd.message_type is not None and fd.message_type.GetOptions().map_entry


def _is_plain_message(fd: descriptor.FieldDescriptor) -> bool:
    """A message field whose JSON form is an object of its fields (not a well-known type)."""
    return fd.message_type is not None and fd.message_type.full_name not in _WELL_KNOWN


def _expected(fd: descriptor.FieldDescriptor, *, element: bool = False) -> str:
    if not element:
        if _is_map(fd):
            return "an object"
        if fd.is_repeated:
            return "an array"
    if fd.message_type is not None:
        return _WELL_KNOWN.get(fd.message_type.full_name, "an object")
    if fd.enum_type is not None:
        names = ", ".join(v.name for v in fd.enum_type.values)
        return f"one of {names}"
    return _SCALAR_KINDS.get(fd.type, "an integer")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _misfit(fd: descriptor.FieldDescriptor, value: Any) -> str | None:
    """Why ParseDict rejects `value` for field `fd` on its own; None when it accepts it."""
    assert fd.containing_type is not None
    holder = message_factory.GetMessageClass(fd.containing_type)()
    try:
        json_format.ParseDict({fd.name: value}, holder)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as error:
        return str(error) or type(error).__name__
    return None


def _wrong(
    fd: descriptor.FieldDescriptor, value: Any, path: str, *, element: bool, why: str
) -> tuple[str, str, str]:
    expected = _expected(fd, element=element)
    got = kind_of(value)
    if element and fd.enum_type is not None and isinstance(value, str | int):
        return path, INVALID_TYPE, f'"{path}" must be {expected}'
    if expected.startswith(got):
        # The right JSON type but an unacceptable value (out of range, unknown enum, ...).
        return path, INVALID_TYPE, f'"{path}" is not {expected}: {why}'
    return path, INVALID_TYPE, f'"{path}" must be {expected}, got {got}'


def _locate(msg: descriptor.Descriptor, document: Any, path: str) -> tuple[str, str, str] | None:
    """(field path, code, message) of the first part of `document` that does not fit `msg`."""
    if not isinstance(document, dict):
        return path, INVALID_TYPE, f'"{path}" must be an object, got {kind_of(document)}'
    for key, value in document.items():
        here = _join(path, key)
        fd = _field_named(msg, key)
        if fd is None:
            known = ", ".join(f.name for f in msg.fields)
            return here, UNKNOWN_FIELD, f'unknown field "{here}" (known fields: {known})'
        if value is None:
            continue
        why = _misfit(fd, value)
        if why is not None:
            return _locate_field(fd, value, here, why)
    return None


def _locate_field(
    fd: descriptor.FieldDescriptor, value: Any, path: str, why: str
) -> tuple[str, str, str]:
    if _is_map(fd) or fd.is_repeated:
        if _is_map(fd):
            if not isinstance(value, dict):
                return _wrong(fd, value, path, element=False, why=why)
            element_fd = _message_type(fd).fields_by_name["value"]
            items: list[tuple[str, Any, Any]] = [
                (f"{path}.{key}", {key: item}, item) for key, item in value.items()
            ]
        else:
            if not isinstance(value, list):
                return _wrong(fd, value, path, element=False, why=why)
            element_fd = fd
            items = [(f"{path}[{i}]", [item], item) for i, item in enumerate(value)]
        for here, wrapped, item in items:
            item_why = _misfit(fd, wrapped)
            if item_why is None:
                continue
            if _is_plain_message(element_fd) and isinstance(item, dict):
                found = _locate(_message_type(element_fd), item, here)
                if found is not None:
                    return found
            return _wrong(element_fd, item, here, element=True, why=item_why)
        return _wrong(fd, value, path, element=False, why=why)
    if _is_plain_message(fd) and isinstance(value, dict):
        found = _locate(_message_type(fd), value, path)
        if found is not None:
            return found
    return _wrong(fd, value, path, element=True, why=why)
