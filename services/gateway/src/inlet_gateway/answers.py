"""The gateway's answers: errors in their route's envelope, twins' piped, common headers."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import google.rpc.error_details_pb2 as error_details_pb2
import google.rpc.status_pb2 as status_pb2
import grpc
from google.api import httpbody_pb2

from inlet_common.envelopes import ErrorContext, envelope_for
from inlet_common.errors import InletError, reason_of, unpack
from inlet_common.httpstatus import http_status
from inlet_gateway import edge_headers

log = logging.getLogger(__name__)

Metadata = list[tuple[str, str]]

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


# Edge routes whose answers a cache may keep (they hold nothing per caller).
_CACHEABLE = frozenset({"/openapi.json", "/docs"})


class MethodNotAllowedError(InletError):
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
class EdgeRequest:
    request_id: str
    metadata: Metadata
    headers: dict[bytes, bytes]
    path: str = ""


class Rendering:
    """Errors rendered in the envelope of their route's dialect."""

    external_type_base: str

    def method_not_allowed(
        self, request: EdgeRequest, method: str, allowed: Sequence[str]
    ) -> Answer:
        error = MethodNotAllowedError(f"{method} is not allowed here; use {', '.join(allowed)}")
        answer = self.render(None, error.to_status(), request)
        answer.headers.append((b"allow", ", ".join(allowed).encode()))
        return answer

    def render(
        self,
        method_full_name: str | None,
        status: status_pb2.Status,
        request: EdgeRequest,
        *,
        headers: Sequence[tuple[bytes, bytes]] = (),
    ) -> Answer:
        code = http_status(status.code, reason_of(status))
        context = ErrorContext(status, code, request.request_id, self.external_type_base)
        rendered = envelope_for(method_full_name, request.path)(context)
        extra = list(headers)
        if not any(name == b"retry-after" for name, _ in extra):
            retry_after = retry_after_of(status)
            if retry_after is not None:
                extra.append((b"retry-after", retry_after))
        return Answer(code, rendered.body, rendered.content_type, extra)


def security_headers(answer: Answer, path: str) -> list[tuple[bytes, bytes]]:
    """nosniff on every answer; no-store unless the answer says otherwise or is public."""
    present = {name.lower() for name, _ in answer.headers}
    headers = []
    if b"x-content-type-options" not in present:
        headers.append(edge_headers.NOSNIFF)
    if b"cache-control" not in present and path not in _CACHEABLE:
        headers.append(edge_headers.NO_STORE)
    return headers


def content_length(answer: Answer) -> list[tuple[bytes, bytes]]:
    if answer.status == 204:
        return []
    return [(b"content-length", str(len(answer.body)).encode())]


def content_type_header(content_type: str) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", content_type.encode())] if content_type else []


def piped(response: httpbody_pb2.HttpBody, initial: Any) -> Answer:
    """A twin's answer as the client gets it: its status, headers and bytes."""
    status = http_code(initial)
    headers = returned_headers(initial)
    if status == 204:
        return Answer(204, b"", "", headers=headers)
    return Answer(status, response.data, response.content_type, headers)


def client_request_id_header(client_request_id: str) -> list[tuple[bytes, bytes]]:
    return [(CLIENT_REQUEST_ID_HEADER, client_request_id.encode())] if client_request_id else []


def http_code(initial: Any) -> int:
    for key, value in initial or ():
        if key == HTTP_CODE_KEY:
            text = str(value).strip()
            if text.isdigit() and 100 <= int(text) <= 599:
                return int(text)
            log.warning("ignored x-http-code", extra={"value": text[:16]})
    return 200


def returned_headers(*metadata: Any) -> list[tuple[bytes, bytes]]:
    headers: list[tuple[bytes, bytes]] = []
    for md in metadata:
        for key, value in md or ():
            if key in RETURNED_METADATA and isinstance(value, str):
                headers.append((key.encode(), value.encode("latin-1", "replace")))
    return headers


def error_headers(error: grpc.aio.AioRpcError) -> list[tuple[bytes, bytes]]:
    return returned_headers(error.initial_metadata(), error.trailing_metadata())


def retry_after_of(status: status_pb2.Status) -> bytes | None:
    for info in unpack(status, error_details_pb2.RetryInfo):
        assert isinstance(info, error_details_pb2.RetryInfo)
        delay = info.retry_delay.seconds + info.retry_delay.nanos / 1e9
        return str(max(1, math.ceil(delay))).encode()
    return None
