"""An RPC's answer as the HTTP client gets it: status, headers and body bytes.

A success is proto3 JSON with every RawJson as its value (the http rule's response_body
applied), its 2xx the handler's x-http-code; an error is its dialect's envelope with the
request id and Retry-After from its RetryInfo. The HTTP twins (inlet_common.httptwins)
answer with these, so both edges pass the same bytes on.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import google.rpc.error_details_pb2 as error_details_pb2
from google.api import annotations_pb2, http_pb2, httpbody_pb2
from google.protobuf import descriptor, message

from inlet_common import exactjson, logs, protojson
from inlet_common.envelopes import DEFAULT_EXTERNAL_TYPE_BASE, ErrorContext, envelope_for
from inlet_common.errors import InletError, reason_of, unpack
from inlet_common.httpstatus import http_status

HTTP_CODE_KEY = "x-http-code"
_HTTP_RULE = cast("Any", annotations_pb2.http)


@dataclass(frozen=True)
class HttpSettings:
    """What an HTTP answer depends on beyond the RPC: the integration dialect's problem
    `type` base (INLET_EXTERNAL_PROBLEM_BASE)."""

    external_type_base: str = DEFAULT_EXTERNAL_TYPE_BASE


def http_rule(method: descriptor.MethodDescriptor) -> http_pb2.HttpRule | None:
    """The method's google.api.http rule, or None."""
    options = method.GetOptions()
    if not options.HasExtension(_HTTP_RULE):
        return None
    return cast(http_pb2.HttpRule, options.Extensions[_HTTP_RULE])


@dataclass(frozen=True)
class Answer:
    """What the twin answers: the HTTP status, headers and body."""

    status: int
    headers: list[tuple[str, str]]
    body: httpbody_pb2.HttpBody


def render_success(
    method: descriptor.MethodDescriptor,
    response: message.Message,
    headers: Sequence[tuple[str, str]],
) -> Answer:
    """A typed answer as the client gets it (the rule's response_body applied)."""
    status = success_status(headers)
    kept = [(k, v) for k, v in headers if k != HTTP_CODE_KEY]
    if status == 204:
        return Answer(204, kept, httpbody_pb2.HttpBody())
    rule = http_rule(method)
    selected = rule.response_body if rule is not None else ""
    if selected:
        field = response.DESCRIPTOR.fields_by_name.get(selected)
        inner = getattr(response, selected) if field is not None else None
        if isinstance(inner, httpbody_pb2.HttpBody):
            return Answer(status, kept, inner)
    payload: Any = protojson.to_json(response)
    if selected:
        payload = payload.get(selected, {})
    body = httpbody_pb2.HttpBody(content_type="application/json", data=exactjson.dumps(payload))
    return Answer(status, kept, body)


def render_error(
    method_full_name: str | None,
    error: InletError,
    headers: Sequence[tuple[str, str]],
    settings: HttpSettings,
    *,
    path: str = "",
) -> Answer:
    """An error in its dialect's envelope, with Retry-After from its RetryInfo."""
    status = error.to_status()
    code = http_status(status.code, reason_of(status))
    context = ErrorContext(status, code, logs.request_id.get(), settings.external_type_base)
    rendered = envelope_for(method_full_name, path)(context)
    kept = [(k, v) for k, v in headers if k != HTTP_CODE_KEY]
    if not any(k == "retry-after" for k, _ in kept):
        for info in unpack(status, error_details_pb2.RetryInfo):
            assert isinstance(info, error_details_pb2.RetryInfo)
            delay = info.retry_delay.seconds + info.retry_delay.nanos / 1e9
            kept.append(("retry-after", str(max(1, math.ceil(delay)))))
            break
    body = httpbody_pb2.HttpBody(content_type=rendered.content_type, data=rendered.body)
    return Answer(code, kept, body)


def success_status(headers: Iterable[tuple[str, Any]]) -> int:
    """The 2xx a typed handler asked for with x-http-code (200 when it did not)."""
    for key, value in headers:
        if key == HTTP_CODE_KEY:
            text = str(value).strip()
            if text.isdigit() and 200 <= int(text) <= 299:
                return int(text)
    return 200
