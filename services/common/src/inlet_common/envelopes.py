"""Each dialect's error body, rendered from a google.rpc.Status; one table picks per RPC."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import google.rpc.status_pb2 as status_pb2
import orjson

from inlet_common.errors import conflicts_of, reason_of, violations_of

PROBLEM_TYPE_BASE = "https://inlet.dev/problems/"
EXTERNAL_PREFIX = "/api/v1/external/"
DEFAULT_EXTERNAL_TYPE_BASE = "https://api-errors.svit.one/"
PROBLEM_JSON = "application/problem+json"

# Words that read wrong in Title Case.
_ACRONYMS = {"JSON", "URL", "ID", "HTTP", "API", "RPC"}


@dataclass(frozen=True)
class ErrorContext:
    """Everything an envelope may show; dialects pick what their contract has."""

    status: status_pb2.Status
    http_status: int
    request_id: str
    # Base of the integration dialect's problem `type` URIs (INLET_EXTERNAL_PROBLEM_BASE).
    external_type_base: str = DEFAULT_EXTERNAL_TYPE_BASE


@dataclass(frozen=True)
class Rendered:
    content_type: str
    body: bytes


Envelope = Callable[[ErrorContext], Rendered]


def problem_type(reason: str) -> str:
    """PAYLOAD_TOO_LARGE → https://inlet.dev/problems/payload-too-large."""
    return PROBLEM_TYPE_BASE + reason.lower().replace("_", "-")


def problem_title(reason: str) -> str:
    """PAYLOAD_TOO_LARGE → Payload Too Large (MALFORMED_JSON → Malformed JSON)."""
    words = [w for w in reason.split("_") if w]
    return " ".join(w if w in _ACRONYMS else w.capitalize() for w in words)


def problem_document(context: ErrorContext) -> dict[str, Any]:
    """The RFC 9457 problem object for a status (before serialisation)."""
    status = context.status
    reason = reason_of(status)
    document: dict[str, Any] = {
        "type": problem_type(reason),
        "title": problem_title(reason),
        "status": context.http_status,
        "detail": status.message,
        "code": reason,
        "request_id": context.request_id,
    }
    errors = [v.as_json() for v in violations_of(status)]
    if errors:
        document["errors"] = errors
    conflicts = conflicts_of(status)
    if conflicts:
        document["conflicts"] = conflicts
    return document


def problem_json(context: ErrorContext) -> Rendered:
    """RFC 9457 application/problem+json, with inlet's code, request id, errors, conflicts."""
    return Rendered(PROBLEM_JSON, orjson.dumps(problem_document(context)))


# The stream-ingest seed's codes: its table has one code per status for these.
_STREAM_CODES_BY_STATUS = {400: "INVALID_PAYLOAD", 401: "UNAUTHORIZED", 413: "PAYLOAD_TOO_LARGE"}


def stream_error(context: ErrorContext) -> Rendered:
    """The stream-ingest seed's envelope, {"success": false, "error": {code, message,
    details?}}, with the request id in `error` (as a 202 has it in `data`)."""
    status = context.status
    reason = reason_of(status)
    code = _STREAM_CODES_BY_STATUS.get(context.http_status, reason)
    error: dict[str, Any] = {"code": code, "message": status.message}
    details = [v.as_json() for v in violations_of(status)]
    if details:
        error["details"] = details
    error["request_id"] = context.request_id
    return Rendered("application/json", orjson.dumps({"success": False, "error": error}))


def push_error(context: ErrorContext) -> Rendered:
    """Endgrate's error body, {"message", "errors"?} (errors: field → messages), with
    success false, inlet's stable code, every bad field with its code in details, and
    the request id."""
    status = context.status
    body: dict[str, Any] = {
        "success": False,
        "message": status.message,
        "code": reason_of(status),
    }
    violations = violations_of(status)
    if violations:
        errors: dict[str, list[str]] = {}
        for v in violations:
            errors.setdefault(v.field, []).append(v.description)
        body["errors"] = errors
        body["details"] = [v.as_json() for v in violations]
    body["request_id"] = context.request_id
    return Rendered("application/json", orjson.dumps(body))


# The integration-ingest seed's categories, by HTTP status (its `type` is
# <base><category>/<slug>: validation/integration-type-not-supported, not-found/integration).
_CATEGORIES = {
    400: "validation",
    401: "authentication",
    403: "authorization",
    404: "not-found",
    405: "validation",
    409: "conflict",
    413: "validation",
    415: "validation",
    422: "validation",
    429: "rate-limit",
    503: "unavailable",
    504: "unavailable",
}
# 5xx answers say nothing of what went wrong inside (no stack, SQL, addresses, class names).
_SERVER_ERRORS = {
    503: ("SERVICE_UNAVAILABLE", "The service is temporarily unavailable; retry later"),
    504: ("GATEWAY_TIMEOUT", "The service did not answer in time; retry later"),
}
_INTERNAL = ("INTERNAL_SERVER_ERROR", "An unexpected error occurred")


def utc_timestamp(when: datetime | None = None) -> str:
    """UTC with milliseconds and Z, as the seed writes it: 2026-04-23T18:30:54.062Z."""
    moment = (when or datetime.now(UTC)).astimezone(UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def external_slug(code: str, category: str) -> str:
    """INTEGRATION_NOT_FOUND → integration (not-found), INTERNAL_SERVER_ERROR → server-error
    (internal), else the code in kebab case."""
    slug = code.lower().replace("_", "-")
    if category == "not-found":
        slug = slug.removesuffix("-not-found") or slug
    elif category == "internal":
        slug = slug.removeprefix("internal-") or slug
    return slug


def external_problem(context: ErrorContext) -> Rendered:
    """The integration-ingest seed's RFC 9457 body: type, title, status, detail, code,
    timestamp (and `errors`, each bad field, when there are any)."""
    status = context.status
    http_status = context.http_status
    violations = []
    if http_status >= 500:
        code, detail = _SERVER_ERRORS.get(http_status, _INTERNAL)
        conflicts: list[dict[str, Any]] = []
    else:
        code, detail = reason_of(status), status.message
        violations = [v.as_json() for v in violations_of(status)]
        conflicts = conflicts_of(status)
    category = _CATEGORIES.get(http_status, "internal" if http_status >= 500 else "validation")
    document: dict[str, Any] = {
        "type": f"{context.external_type_base}{category}/{external_slug(code, category)}",
        "title": problem_title(code),
        "status": http_status,
        "detail": detail,
        "code": code,
        "timestamp": utc_timestamp(),
    }
    if violations:
        document["errors"] = violations
    if conflicts:
        document["conflicts"] = conflicts
    return Rendered(PROBLEM_JSON, orjson.dumps(document))


DEFAULT_ENVELOPE: Envelope = problem_json

# RPC full name → its dialect's envelope; a new dialect plugs in here and nowhere else.
ENVELOPES: Mapping[str, Envelope] = {
    "inlet.ingest.v1.IngestService.PushEndpoint": problem_json,
    "inlet.ingest.v1.IngestService.IngestStream": stream_error,
    "inlet.ingest.v1.IngestService.GetIngestRequestStatus": stream_error,
    "inlet.ingest.v1.StreamFeedService.ListStreamItems": stream_error,
    "inlet.ingest.v1.StreamFeedService.WatchStream": stream_error,
    "inlet.ingest.v1.IngestService.PushTransfer": push_error,
    "inlet.ingest.v1.IngestService.GetPushData": push_error,
    "inlet.ingest.v1.ExternalIngestService.IngestData": external_problem,
    "inlet.ingest.v1.ExternalIngestService.GetDataIngestionStatus": external_problem,
    "inlet.ingest.v1.ExternalIngestService.Ping": external_problem,
    "inlet.ingest.v1.ExternalIngestService.SubmitForm": external_problem,
    "inlet.ingest.v1.ExternalIngestService.PreflightForm": external_problem,
}


def envelope_for(method_full_name: str | None, path: str = "") -> Envelope:
    """The envelope of an RPC; with none (no route matched), the dialect of the path; the
    default for unknown routes and unlisted RPCs."""
    if method_full_name is None:
        return external_problem if path.startswith(EXTERNAL_PREFIX) else DEFAULT_ENVELOPE
    return ENVELOPES.get(method_full_name, DEFAULT_ENVELOPE)
