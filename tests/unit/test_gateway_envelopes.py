"""RFC 9457 problem+json rendered from google.rpc.Status details."""

from __future__ import annotations

import google.rpc.code_pb2 as code_pb2
import google.rpc.error_details_pb2 as error_details_pb2
import google.rpc.status_pb2 as status_pb2
import orjson
import pytest

from inlet.type.v1 import problem_pb2
from inlet_common.envelopes import (
    DEFAULT_ENVELOPE,
    PROBLEM_JSON,
    ErrorContext,
    envelope_for,
    problem_json,
    problem_title,
    problem_type,
)
from inlet_common.errors import FailedPrecondition, InvalidArgument, Violation

CONFLICT = problem_pb2.UniqueConflict(
    entity="related.contact",
    matches=[
        problem_pb2.UniqueMatch(field="email", value="ola@acme.no", record_ids=["rec_1"]),
        problem_pb2.UniqueMatch(field="phone", value="+4799887766", record_ids=["rec_2", "rec_3"]),
    ],
)


def render(context: ErrorContext) -> dict[str, object]:
    rendered = problem_json(context)
    assert rendered.content_type == PROBLEM_JSON
    document = orjson.loads(rendered.body)
    assert isinstance(document, dict)
    return document


def test_violations_become_errors() -> None:
    status = InvalidArgument(
        "2 fields are invalid",
        violations=[
            Violation("fields.email", "not an e-mail address", "INVALID_EMAIL"),
            Violation("fields.phone", "not a phone number", "INVALID_PHONE"),
        ],
    ).to_status()

    assert render(ErrorContext(status, 400, "req_1")) == {
        "type": "https://inlet.dev/problems/invalid-argument",
        "title": "Invalid Argument",
        "status": 400,
        "detail": "2 fields are invalid",
        "code": "INVALID_ARGUMENT",
        "request_id": "req_1",
        "errors": [
            {"field": "fields.email", "code": "INVALID_EMAIL", "message": "not an e-mail address"},
            {"field": "fields.phone", "code": "INVALID_PHONE", "message": "not a phone number"},
        ],
    }


def test_unique_conflict_becomes_one_entry_per_match() -> None:
    status = FailedPrecondition(
        "unique fields matched different records", reason="UNIQUE_CONFLICT", details=[CONFLICT]
    ).to_status()

    assert render(ErrorContext(status, 400, "req_2")) == {
        "type": "https://inlet.dev/problems/unique-conflict",
        "title": "Unique Conflict",
        "status": 400,
        "detail": "unique fields matched different records",
        "code": "UNIQUE_CONFLICT",
        "request_id": "req_2",
        "conflicts": [
            {
                "entity": "related.contact",
                "field": "email",
                "value": "ola@acme.no",
                "record_ids": ["rec_1"],
            },
            {
                "entity": "related.contact",
                "field": "phone",
                "value": "+4799887766",
                "record_ids": ["rec_2", "rec_3"],
            },
        ],
    }


def test_errors_and_conflicts_together_with_other_details_ignored() -> None:
    status = InvalidArgument(
        "bad",
        reason="PAYLOAD_TOO_LARGE",
        violations=[Violation("fields", "too big", "TOO_BIG")],
        details=[CONFLICT, error_details_pb2.RetryInfo()],
    ).to_status()

    document = render(ErrorContext(status, 413, "r"))

    assert document["code"] == "PAYLOAD_TOO_LARGE"
    assert document["title"] == "Payload Too Large"
    assert document["status"] == 413
    assert document["errors"] == [{"field": "fields", "code": "TOO_BIG", "message": "too big"}]
    assert isinstance(document["conflicts"], list)
    assert len(document["conflicts"]) == 2


def test_status_without_error_info_uses_the_code_name() -> None:
    status = status_pb2.Status(code=code_pb2.UNAVAILABLE, message="x")

    document = render(ErrorContext(status, 503, "r"))

    assert document["code"] == "UNAVAILABLE"
    assert document["type"] == "https://inlet.dev/problems/unavailable"
    assert "errors" not in document
    assert "conflicts" not in document


@pytest.mark.parametrize(
    ("reason", "title", "slug"),
    [
        ("PAYLOAD_TOO_LARGE", "Payload Too Large", "payload-too-large"),
        ("MALFORMED_JSON", "Malformed JSON", "malformed-json"),
        ("ROUTE_NOT_FOUND", "Route Not Found", "route-not-found"),
        ("NOT_FOUND", "Not Found", "not-found"),
    ],
)
def test_title_and_type(reason: str, title: str, slug: str) -> None:
    assert problem_title(reason) == title
    assert problem_type(reason) == f"https://inlet.dev/problems/{slug}"


def test_envelope_table_defaults_to_problem_json() -> None:
    assert envelope_for("inlet.ingest.v1.IngestService.PushEndpoint") is problem_json
    assert envelope_for("some.Other.Method") is DEFAULT_ENVELOPE
    assert envelope_for(None) is DEFAULT_ENVELOPE
