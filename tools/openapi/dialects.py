"""What the protos cannot say about the HTTP contract: raw dialect bodies, envelopes, headers, auth.

Everything here is keyed by RPC or service full name. An RPC that is not listed still gets
a complete operation from its descriptors: a `google.api.HttpBody` body without a declared
schema is documented as "any JSON value", its success is 200, and its errors use the
envelope the gateway renders for it (inlet_gateway.envelopes).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from inlet_common import envelopes

JSON = dict[str, Any]

PUSH_ENDPOINT = "inlet.ingest.v1.IngestService.PushEndpoint"
INGEST_STREAM = "inlet.ingest.v1.IngestService.IngestStream"
REQUEST_STATUS = "inlet.ingest.v1.IngestService.GetIngestRequestStatus"

ANY_JSON: JSON = {
    "description": "Any JSON value, kept exactly as written (numbers keep every digit)."
}

# Services shown first (the dialects people integrate with); the rest follow in file order.
LEADING_SERVICES = ("inlet.ingest.v1.IngestService",)

TITLE = "inlet"
VERSION = "v1"
DESCRIPTION = (
    "inlet's public HTTP API, generated from the `google.api.http` annotations of its protos"
    " (`make protos`). Two edges serve it: the Python gateway and Envoy's gRPC-JSON"
    " transcoder.\n\n"
    "Bodies are proto3 JSON with the protos' field names (lowerCamelCase names are accepted"
    " on input too). 64-bit integers are strings; enums are their names;"
    " `google.protobuf.Timestamp` is an RFC 3339 string, `Duration` a string such as"
    ' `"1.5s"`, `FieldMask` a comma-separated string. A field holding a user value'
    " (`inlet.type.v1.RawJson`) is that JSON value itself, exactly as it was sent.\n\n"
    "Every answer carries `X-Request-Id`. Errors are `application/problem+json` (RFC 9457),"
    " except stream ingest's, which follow its contract:"
    ' `{"success": false, "error": {...}}`.'
)


@dataclass(frozen=True)
class Dialect:
    """The HTTP contract of one RPC beyond its descriptors."""

    # The schema of a google.api.HttpBody request body (raw JSON the service parses).
    request_body: JSON | None = None
    request_examples: Mapping[str, Any] = field(default_factory=dict)
    # The success status the service sets through x-http-code.
    success_status: int = 200
    success_description: str = ""
    # Header parameters (names in HEADER_PARAMETERS) the RPC reads.
    headers: tuple[str, ...] = ()
    # Response headers (names in RESPONSE_HEADERS) on every answer of the RPC.
    response_headers: tuple[str, ...] = ()
    # Response headers on its success only.
    success_headers: tuple[str, ...] = ()


RATE_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy")

_FIELD_VALUES: JSON = {
    "type": "object",
    "description": "Field slug → value (any JSON value; `null` clears the field).",
    "additionalProperties": ANY_JSON,
}

PUSH_BODY: JSON = {
    "title": "EndpointPush",
    "type": "object",
    "description": (
        "The endpoint-push body: the record's `fields`, and `related` records keyed by the"
        " slug of a reference field of the endpoint's entity type. An empty push (no body,"
        ' `{}`, `{"fields": {}}` without `related`) is refused (400 `EMPTY_PUSH`).'
        " Over 100 KB is 413."
    ),
    "properties": {
        "fields": {"anyOf": [_FIELD_VALUES, {"type": "null"}]},
        "related": {
            "anyOf": [
                {
                    "type": "object",
                    "description": "Reference-field slug → the related record's fields.",
                    "additionalProperties": {"anyOf": [_FIELD_VALUES, {"type": "null"}]},
                },
                {"type": "null"},
            ]
        },
    },
    "additionalProperties": False,
}

_STREAM_ITEM: JSON = {
    "type": "object",
    "description": "One item: field slug → value, checked against the stream's entity type.",
    "additionalProperties": ANY_JSON,
}

STREAM_BODY: JSON = {
    "title": "StreamIngest",
    "description": (
        "One item (an object) or a non-empty array of items, at most 1 MB. Judged before the"
        " 202: the body's shape and each item's fields against the stream's entity type."
    ),
    "oneOf": [_STREAM_ITEM, {"type": "array", "minItems": 1, "items": _STREAM_ITEM}],
}

DIALECTS: Mapping[str, Dialect] = {
    PUSH_ENDPOINT: Dialect(
        request_body=PUSH_BODY,
        request_examples={
            "record": {
                "value": {
                    "fields": {
                        "name": "Ola Nordmann",
                        "email": "ola@acme.no",
                        "phone": "+4799887766",
                    }
                }
            },
            "related": {
                "value": {
                    "fields": {"title": "Acme Renewal", "value": 50000},
                    "related": {"contact": {"name": "Ola Nordmann", "email": "ola@acme.no"}},
                }
            },
        },
        success_description="Record created or updated (a replay says `Idempotency-Replayed`).",
        headers=("Idempotency-Key",),
        response_headers=RATE_HEADERS,
        success_headers=("Idempotency-Replayed",),
    ),
    INGEST_STREAM: Dialect(
        request_body=STREAM_BODY,
        request_examples={
            "item": {
                "value": {
                    "region": "North",
                    "revenue": 142000,
                    "target": 130000,
                    "updated_at": "2026-04-06T10:30:00Z",
                }
            },
            "items": {
                "value": [
                    {"region": "North", "revenue": 142000, "target": 130000},
                    {"region": "South", "revenue": 98000, "target": 110000},
                ]
            },
        },
        success_status=202,
        success_description=(
            "Accepted: durably queued; poll `GET /api/ingest/requests/{request_id}`. A repeated"
            " `Idempotency-Key` answers the first request's 202 with `Idempotency-Replayed`."
        ),
        headers=("Idempotency-Key", "X-Item-Key", "X-Stream"),
        response_headers=RATE_HEADERS,
        success_headers=("Idempotency-Replayed",),
    ),
}


DIALECTS = {  # the stream's live feed
    **DIALECTS,
    "inlet.ingest.v1.StreamFeedService.WatchStream": Dialect(
        success_description=(
            "The feed, as Server-Sent Events until the client leaves (or is dropped for"
            " falling behind: `event: dropped`, resumable)."
        ),
        headers=("Last-Event-ID",),
    ),
}


DIALECTS = {  # the integration dialect's raw routes
    **DIALECTS,
    "inlet.ingest.v1.ExternalIngestService.IngestData": Dialect(
        request_body={
            **ANY_JSON,
            "description": "Raw JSON for the integration (its type and mapping read it).",
        },
        success_status=202,
        success_description="Accepted: stored as sent, processed asynchronously.",
        headers=("Idempotency-Key",),
        response_headers=RATE_HEADERS,
        success_headers=("Idempotency-Replayed",),
    ),
    "inlet.ingest.v1.ExternalIngestService.PreflightForm": Dialect(
        success_status=204,
        success_description="The CORS preflight of the form: allowed methods and headers.",
    ),
}


def dialect_of(rpc: str) -> Dialect:
    return DIALECTS.get(rpc, Dialect())


# --- authentication ---------------------------------------------------------------------------

SECURITY_SCHEMES: JSON = {
    "adminToken": {
        "type": "http",
        "scheme": "bearer",
        "description": (
            "A workspace's admin token (`adm_…`), or the installation's bootstrap token"
            " (`INLET_ADMIN_BOOTSTRAP_TOKEN`) for CreateWorkspace and CreateAdminToken."
        ),
    },
    "ingestKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "A stream's ingest key (`ik_live_…`, `ik_test_…`).",
    },
    "readKey": {
        "type": "http",
        "scheme": "bearer",
        "description": (
            "A stream's read key (`rk_…`): its items and live feed, read-only (a workspace"
            " admin token reads its streams too)."
        ),
    },
}

# RPC → security requirement; an empty list means the URL itself is the credential.
SECURITY_BY_RPC: Mapping[str, list[JSON]] = {
    PUSH_ENDPOINT: [],
    INGEST_STREAM: [{"ingestKey": []}],
    REQUEST_STATUS: [{"ingestKey": []}],
}
SECURITY_BY_SERVICE: Mapping[str, list[JSON]] = {
    "inlet.admin.v1.AdminService": [{"adminToken": []}],
    "inlet.admin.v1.StreamAdminService": [{"adminToken": []}],
    "inlet.notifier.v1.WebhookService": [{"adminToken": []}],
    "inlet.ingest.v1.StreamFeedService": [{"readKey": []}],
}


def security_of(rpc: str, service: str) -> list[JSON] | None:
    """The RPC's security requirement, or None when nothing is declared for it."""
    if rpc in SECURITY_BY_RPC:
        return SECURITY_BY_RPC[rpc]
    return SECURITY_BY_SERVICE.get(service)


# --- headers ----------------------------------------------------------------------------------

HEADER_PARAMETERS: Mapping[str, JSON] = {
    "X-Request-Id": {
        "name": "X-Request-Id",
        "in": "header",
        "required": False,
        "description": (
            "The client's correlation id (1 to 128 of `A-Z a-z 0-9 . _ : -`; otherwise"
            " ignored): echoed as `X-Client-Request-Id` and logged, never used as inlet's id."
        ),
        "schema": {"type": "string"},
    },
    "Idempotency-Key": {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": (
            "At most 255 characters (an empty one is none); a repeat within 24 h is not"
            " processed again."
        ),
        "schema": {"type": "string", "maxLength": 255},
    },
    "X-Item-Key": {
        "name": "X-Item-Key",
        "in": "header",
        "required": False,
        "description": (
            "A field of the stream's entity type that identifies an item; every item must"
            " have a value for it, and items sharing a value update one record."
        ),
        "schema": {"type": "string"},
    },
    "X-Stream": {
        "name": "X-Stream",
        "in": "header",
        "required": False,
        "description": "The stream the caller means; must be the ingest key's stream.",
        "schema": {"type": "string"},
    },
    "Last-Event-ID": {
        "name": "Last-Event-ID",
        "in": "header",
        "required": False,
        "description": (
            "Resume the feed right after this position (the `id:` of the last event received;"
            " a reconnecting EventSource sends it by itself)."
        ),
        "schema": {"type": "string"},
    },
}

RESPONSE_HEADERS: Mapping[str, JSON] = {
    "X-Request-Id": {
        "description": "inlet's id of this request (activity and connector logs, webhooks).",
        "required": True,
        "schema": {"type": "string", "minLength": 1},
    },
    "X-Client-Request-Id": {
        "description": "The client's well-formed `X-Request-Id`, echoed.",
        "schema": {"type": "string"},
    },
    "RateLimit-Limit": {
        "description": "Requests allowed per window.",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    },
    "RateLimit-Remaining": {
        "description": "Requests left in the current window.",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    },
    "RateLimit-Reset": {
        "description": "Seconds until the window resets.",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    },
    "RateLimit-Policy": {
        "description": "`limit;w=window-seconds`.",
        "schema": {"type": "string"},
    },
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    },
    "Idempotency-Replayed": {
        "description": "`true` on an answer replayed for a repeated `Idempotency-Key`.",
        "schema": {"type": "string", "enum": ["true"]},
    },
}


# --- error envelopes --------------------------------------------------------------------------

FIELD_VIOLATION: JSON = {
    "type": "object",
    "description": "One bad field (or header, or query parameter), named by its path.",
    "required": ["field", "code", "message"],
    "properties": {
        "field": {"type": "string", "description": 'e.g. "fields.email", "items[3].phone".'},
        "code": {"type": "string", "description": "e.g. INVALID_EMAIL, UNKNOWN_FIELD."},
        "message": {"type": "string"},
    },
}

UNIQUE_CONFLICT: JSON = {
    "type": "object",
    "description": "One unique field whose normalised value matched a record.",
    "required": ["entity", "field", "value", "record_ids"],
    "properties": {
        "entity": {"type": "string", "description": '"record" or "related.<slug>".'},
        "field": {"type": "string"},
        "value": {"type": "string", "description": "The normalised value looked up."},
        "record_ids": {"type": "array", "items": {"type": "string"}},
    },
}

PROBLEM: JSON = {
    "type": "object",
    "description": (
        "RFC 9457 problem details with inlet's stable `code` (the ErrorInfo reason), the"
        " request id, each bad field in `errors` and unique conflicts in `conflicts`."
    ),
    "required": ["type", "title", "status", "detail", "code", "request_id"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "description": "e.g. VALIDATION_FAILED, NOT_FOUND."},
        "request_id": {"type": "string"},
        "errors": {"type": "array", "items": {"$ref": "#/components/schemas/FieldViolation"}},
        "conflicts": {"type": "array", "items": {"$ref": "#/components/schemas/UniqueConflict"}},
    },
}

STREAM_ERROR: JSON = {
    "type": "object",
    "description": (
        "The stream-ingest contract's error envelope; `request_id` is inlet's addition"
        " (the answer's `X-Request-Id`)."
    ),
    "required": ["success", "error"],
    "properties": {
        "success": {"const": False},
        "error": {
            "type": "object",
            "required": ["code", "message", "request_id"],
            "properties": {
                "code": {
                    "type": "string",
                    "description": (
                        "INVALID_PAYLOAD (400), UNAUTHORIZED (401), STREAM_NOT_FOUND,"
                        " REQUEST_NOT_FOUND (404), PAYLOAD_TOO_LARGE (413), RATE_LIMITED (429),"
                        " or the reason of another error."
                    ),
                },
                "message": {"type": "string"},
                "details": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/FieldViolation"},
                },
                "request_id": {"type": "string"},
            },
        },
    },
}

ERROR_SCHEMAS: JSON = {
    "FieldViolation": FIELD_VIOLATION,
    "UniqueConflict": UNIQUE_CONFLICT,
    "Problem": PROBLEM,
    "StreamError": STREAM_ERROR,
}

# Each envelope of the gateway → the component that describes its body.
ENVELOPE_SCHEMAS: Mapping[Callable[..., Any], str] = {
    envelopes.problem_json: "Problem",
    envelopes.stream_error: "StreamError",
}


# --- the gateway's own routes -----------------------------------------------------------------

HEALTH_BODY: JSON = {
    "type": "object",
    "required": ["status"],
    "properties": {"status": {"const": "ok"}},
    "additionalProperties": False,
}
