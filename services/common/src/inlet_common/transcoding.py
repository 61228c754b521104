"""JSON bodies, query strings and path variables set on a request message; TranscodeError."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast
from urllib.parse import parse_qsl

import orjson
from google.protobuf import descriptor, field_mask_pb2, json_format, message

from inlet_common import exactjson
from inlet_common.exactjson import kind_of
from inlet_common.jsonmisfits import INVALID_TYPE, UNKNOWN_FIELD, locate_misfit
from inlet_common.protofields import (
    QUERY_MESSAGES,
    descriptor_of,
    expected_json,
    field_named,
    is_map,
    is_plain_message,
    join_path,
    message_of,
    resolve_path,
)
from inlet_common.protojson import RAW_JSON

# Reasons of the edge's own 400s (ErrorInfo reason, and x-inlet-edge-error to the service).
MALFORMED_JSON = "MALFORMED_JSON"
INVALID_BODY = "INVALID_BODY"
INVALID_QUERY = "INVALID_QUERY"
INVALID_PATH = "INVALID_PATH"


# The request field a PATCH's mask goes in (AIP-134), and its type.
UPDATE_MASK = "update_mask"
FIELD_MASK = "google.protobuf.FieldMask"


HTTP_BODY = "google.api.HttpBody"


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


def parse_exact(body: bytes) -> Any:
    """parse_json, numbers exact (inlet_common.exactjson)."""
    try:
        return exactjson.loads(body)
    except exactjson.DecodeError as error:
        raise TranscodeError(MALFORMED_JSON, f"request body is not valid JSON: {error}") from None


def merge_document(request: message.Message, document: dict[str, Any]) -> None:
    try:
        json_format.ParseDict(document, request)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as error:
        problem = locate_misfit(descriptor_of(request), document, "")
        if problem is None:
            raise TranscodeError(INVALID_BODY, f"request body does not fit: {error}") from None
        path, code, text = problem
        raise TranscodeError(INVALID_BODY, text, field=path or None, code=code) from None


def merge_body_field(request: message.Message, name: str, document: Any) -> None:
    target = descriptor_of(request).fields_by_name[name]
    if is_plain_message(target) and not target.is_repeated and not isinstance(document, dict):
        raise TranscodeError(
            INVALID_BODY, f"request body must be a JSON object, got {kind_of(document)}"
        )
    try:
        json_format.ParseDict({name: document}, request)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as error:
        problem: tuple[str, str, str] | None
        if is_plain_message(target) and isinstance(document, dict):
            problem = locate_misfit(message_of(target), document, "")
        else:
            # The body is the field itself: it is the whole body that has the wrong shape.
            problem = ("", INVALID_TYPE, f"request body must be {expected_json(target)}")
        if problem is None:
            raise TranscodeError(INVALID_BODY, f"request body does not fit: {error}") from None
        path, code, text = problem
        raise TranscodeError(INVALID_BODY, text, field=path or None, code=code) from None


def body_paths(msg: descriptor.Descriptor, document: dict[str, Any], path: str) -> list[str]:
    """Proto field paths of the keys of a JSON object already parsed into `msg`."""
    found: list[str] = []
    for key, value in document.items():
        fd = field_named(msg, key)
        if fd is None:
            continue  # cannot happen: the body was parsed into msg already
        here = join_path(path, fd.name)
        raw = fd.message_type is not None and fd.message_type.full_name == RAW_JSON
        if is_plain_message(fd) and not raw and not fd.is_repeated and isinstance(value, dict):
            # An object names its own keys; an empty one names nothing (a RawJson value is
            # one field, whatever it holds).
            found.extend(body_paths(message_of(fd), value, here))
        else:
            found.append(here)
    return found


def lift_raw(msg: descriptor.Descriptor | None, document: Any) -> Any:
    """`document` with each RawJson field's value as {"json": its exact text}, and every
    other number as a plain int or float (ParseDict's types)."""
    if msg is None or not isinstance(document, dict):
        return _plain(document)
    lifted: dict[str, Any] = {}
    for key, value in document.items():
        fd = field_named(msg, key)
        inner = fd.message_type if fd is not None else None
        if fd is None or inner is None or value is None:
            lifted[key] = _plain(value)
        elif inner.full_name == RAW_JSON:
            lifted[key] = _raw_value(fd, value)
        elif is_map(fd) and isinstance(value, dict):
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
    if inner is not None and is_plain_message(fd):
        return lift_raw(inner, value)
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


def set_query_fields(request: message.Message, query: str, *, bound: set[str]) -> None:
    grouped: dict[str, list[str]] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        grouped.setdefault(key, []).append(value)
    for key, values in grouped.items():
        try:
            chain = resolve_path(descriptor_of(request), key.split("."), leaf_scalar=True)
        except KeyError:
            raise TranscodeError(
                INVALID_QUERY, f'unknown query parameter "{key}"', field=key, code=UNKNOWN_FIELD
            ) from None
        if ".".join(f.name for f in chain) in bound:
            continue  # the URL path wins
        leaf = chain[-1]
        if leaf.message_type is not None and leaf.message_type.full_name == FIELD_MASK:
            # grpc-gateway's form: comma-separated paths, the parameter possibly repeated.
            paths = [p.strip() for value in values for p in value.split(",") if p.strip()]
            target = request
            for step in chain:
                target = getattr(target, step.name)
            cast(field_mask_pb2.FieldMask, target).paths.extend(paths)
            continue
        if leaf.message_type is not None and leaf.message_type.full_name not in QUERY_MESSAGES:
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
                f'query parameter "{key}" must be {expected_json(leaf, element=True)}',
                field=key,
                code=INVALID_TYPE,
            ) from None


def set_path_fields(request: message.Message, variables: Mapping[str, str]) -> None:
    for field_path, value in variables.items():
        chain = resolve_path(descriptor_of(request), field_path.split("."), leaf_scalar=True)
        leaf = chain[-1]
        try:
            _set_leaf(request, chain, [value] if leaf.is_repeated else _from_text(leaf, value))
        except (json_format.ParseError, ValueError, TypeError):
            raise TranscodeError(
                INVALID_PATH,
                f'path segment "{field_path}" must be {expected_json(leaf, element=True)}',
                field=field_path,
                code=INVALID_TYPE,
            ) from None


def _set_leaf(
    request: message.Message, chain: Sequence[descriptor.FieldDescriptor], value: Any
) -> None:
    target = request
    for step in chain[:-1]:
        target = getattr(target, step.name)
    leaf = chain[-1]
    if leaf.type == descriptor.FieldDescriptor.TYPE_STRING and not leaf.is_repeated:
        # A string is set as it is (what ParseDict would do, at a fraction of its cost:
        # every endpoint push carries its token this way).
        setattr(target, leaf.name, value)
        return
    # ParseDict does the proto3-JSON conversion of strings to ints, enums, bytes, wrappers.
    json_format.ParseDict({leaf.name: value}, target)


def _from_text(leaf: descriptor.FieldDescriptor, text: str) -> Any:
    """URL text as the JSON value ParseDict expects for `leaf`."""
    if leaf.type == descriptor.FieldDescriptor.TYPE_BOOL or (
        leaf.message_type is not None and leaf.message_type.full_name == "google.protobuf.BoolValue"
    ):
        if text in ("true", "false"):
            return text == "true"
        raise ValueError(text)
    return text
