"""The one gRPC-status → HTTP-status table (google.rpc.Code's documented mapping)."""

from __future__ import annotations

import google.rpc.code_pb2 as code_pb2

from inlet_common.errors import InletError

HTTP_STATUS: dict[int, int] = {
    code_pb2.OK: 200,
    code_pb2.CANCELLED: 499,
    code_pb2.UNKNOWN: 500,
    code_pb2.INVALID_ARGUMENT: 400,
    code_pb2.DEADLINE_EXCEEDED: 504,
    code_pb2.NOT_FOUND: 404,
    code_pb2.ALREADY_EXISTS: 409,
    code_pb2.PERMISSION_DENIED: 403,
    code_pb2.UNAUTHENTICATED: 401,
    code_pb2.RESOURCE_EXHAUSTED: 429,
    code_pb2.FAILED_PRECONDITION: 400,
    code_pb2.ABORTED: 409,
    code_pb2.OUT_OF_RANGE: 400,
    code_pb2.UNIMPLEMENTED: 501,
    code_pb2.INTERNAL: 500,
    code_pb2.UNAVAILABLE: 503,
    code_pb2.DATA_LOSS: 500,
}


# Reasons whose HTTP status is more precise than their code's (RESOURCE_EXHAUSTED is
# 429 in general, but a body that is too large is 413 in every dialect).
REASON_HTTP_STATUS: dict[str, int] = {
    "PAYLOAD_TOO_LARGE": 413,
    "METHOD_NOT_ALLOWED": 405,
    # An Idempotency-Key reused with a different body (Stripe answers 422).
    "IDEMPOTENCY_KEY_REUSED": 422,
    # A body of a media type the route does not read (the external form).
    "UNSUPPORTED_MEDIA_TYPE": 415,
    # The edge's own refusals of slow or oversized requests.
    "REQUEST_TIMEOUT": 408,
    "REQUEST_HEADER_FIELDS_TOO_LARGE": 431,
}


def http_status(grpc_code: int, reason: str = "") -> int:
    """HTTP status for a google.rpc.Code value and ErrorInfo reason."""
    return REASON_HTTP_STATUS.get(reason) or HTTP_STATUS.get(grpc_code, 500)


def http_status_of(error: InletError) -> int:
    """The HTTP status a caller is answered with for `error` (activity and connector logs)."""
    return http_status(error.to_status().code, error.reason)
