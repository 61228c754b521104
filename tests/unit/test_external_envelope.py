"""The integration dialect's problem+json: the seed's keys and order, `type` under the
configured base as <category>/<slug>, a UTC millisecond timestamp, and 5xx answers that
say nothing of what went wrong inside."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from inlet_common.envelopes import (
    ErrorContext,
    envelope_for,
    external_problem,
    external_slug,
    utc_timestamp,
)
from inlet_common.errors import InletError, InvalidArgument, NotFound, Unavailable, Violation
from inlet_common.httpstatus import http_status_of
from inlet_common.mappings import TypeNotSupported

BASE = "https://errors.example.com/"
KEYS = ["type", "title", "status", "detail", "code", "timestamp"]


def render(error: InletError) -> dict[str, Any]:
    context = ErrorContext(error.to_status(), http_status_of(error), "req_x", BASE)
    rendered = external_problem(context)
    assert rendered.content_type == "application/problem+json"
    document: dict[str, Any] = orjson.loads(rendered.body)
    return document


def test_the_seeds_400_has_exactly_its_keys() -> None:
    document = render(TypeNotSupported("OTHER"))
    assert list(document) == KEYS
    assert document["type"] == BASE + "validation/integration-type-not-supported"
    assert document["title"] == "Integration Type Not Supported"
    assert document["detail"] == "Integration type 'OTHER' is not supported"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", document["timestamp"])


def test_not_found_drops_the_words_its_category_says() -> None:
    document = render(NotFound("Integration with ID x not found", reason="INTEGRATION_NOT_FOUND"))
    assert document["type"] == BASE + "not-found/integration"
    assert document["status"] == 404


def test_field_problems_list_each_field() -> None:
    error = InvalidArgument(
        "invalid form: email, phone",
        reason="VALIDATION_FAILED",
        violations=[
            Violation("email", "not an e-mail address", "INVALID_EMAIL"),
            Violation("phone", "no digits", "INVALID_PHONE"),
        ],
    )
    document = render(error)
    assert list(document) == [*KEYS, "errors"]
    assert [e["field"] for e in document["errors"]] == ["email", "phone"]


@pytest.mark.parametrize(
    ("error", "status", "code", "path"),
    [
        (
            InletError("psycopg.errors.RaiseException: SELECT secret"),
            500,
            "INTERNAL_SERVER_ERROR",
            "internal/server-error",
        ),
        (
            Unavailable("store unavailable: 127.0.0.1:50052 refused"),
            503,
            "SERVICE_UNAVAILABLE",
            "unavailable/service-unavailable",
        ),
    ],
)
def test_server_errors_leak_nothing(error: InletError, status: int, code: str, path: str) -> None:
    document = render(error)
    assert list(document) == KEYS
    assert document["status"] == status
    assert document["code"] == code
    assert document["type"] == BASE + path
    assert "SELECT" not in document["detail"]
    assert "127.0.0.1" not in document["detail"]
    if status == 500:
        assert document["detail"] == "An unexpected error occurred"


@pytest.mark.parametrize(
    ("code", "category", "slug"),
    [
        ("INTEGRATION_NOT_FOUND", "not-found", "integration"),
        ("NOT_FOUND", "not-found", "not-found"),
        ("INTERNAL_SERVER_ERROR", "internal", "server-error"),
        ("RATE_LIMITED", "rate-limit", "rate-limited"),
    ],
)
def test_slugs(code: str, category: str, slug: str) -> None:
    assert external_slug(code, category) == slug


def test_routes_under_the_external_prefix_speak_its_dialect() -> None:
    assert envelope_for(None, "/api/v1/external/nowhere") is external_problem
    assert envelope_for("inlet.ingest.v1.ExternalIngestService.IngestData") is external_problem
    assert envelope_for(None, "/api/v1/ingest/x") is not external_problem


def test_utc_timestamp_has_milliseconds_and_z() -> None:
    when = datetime(2026, 4, 23, 18, 30, 54, 62345, tzinfo=UTC)
    assert utc_timestamp(when) == "2026-04-23T18:30:54.062Z"
