"""Reading a dialect's raw HTTP body: exact JSON, and the shape its contract asks for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from inlet_common import exactjson, nul
from inlet_common.errors import InvalidArgument, Violation
from inlet_common.exactjson import kind_of
from inlet_matcher.errors import ValidationFailed

MALFORMED_JSON = "MALFORMED_JSON"
INVALID_BODY = "INVALID_BODY"

_PUSH_KEYS = ("fields", "related")


@dataclass(frozen=True)
class PushBody:
    """An endpoint push: field values and related records, numbers exact."""

    fields: dict[str, Any]
    related: dict[str, dict[str, Any]]

    def canonical(self) -> dict[str, Any]:
        """What Idempotency-Key compares: the body's meaning, not its bytes."""
        return {"fields": self.fields, "related": self.related}


def parse(data: bytes) -> Any:
    """The JSON document in `data`, numbers exact; MALFORMED_JSON when it is not JSON."""
    try:
        return exactjson.loads(data)
    except exactjson.DecodeError as error:
        raise InvalidArgument(
            f"request body is not valid JSON: {error}", reason=MALFORMED_JSON
        ) from None


def _invalid(field: str, message: str, code: str) -> InvalidArgument:
    return InvalidArgument(
        message, reason=INVALID_BODY, violations=[Violation(field, message, code)]
    )


def push_body(data: bytes) -> PushBody:
    """`{"fields": {…}, "related": {slug: {…}}}`; an empty body is an empty push."""
    document = parse(data) if data.strip() else {}
    where = nul.in_json(document, "")
    if where is not None:
        refused = nul.refusal(where)
        raise ValidationFailed(refused.message, violations=refused.violations)
    if not isinstance(document, dict):
        message = f"request body must be a JSON object, got {kind_of(document)}"
        raise InvalidArgument(message, reason=INVALID_BODY)
    for key in document:
        if key not in _PUSH_KEYS:
            raise _invalid(
                key,
                f'unknown field "{key}" in the request body (expected "fields" and "related")',
                "INVALID_TYPE",
            )
    fields = document.get("fields")
    if fields is None:
        fields = {}
    if not isinstance(fields, dict):
        raise _invalid(
            "fields", f"fields must be a JSON object, got {kind_of(fields)}", "INVALID_TYPE"
        )
    related = document.get("related")
    if related is None:
        related = {}
    if not isinstance(related, dict):
        raise _invalid(
            "related", f"related must be a JSON object, got {kind_of(related)}", "INVALID_TYPE"
        )
    for slug, values in related.items():
        if not isinstance(values, dict):
            raise _invalid(
                f"related.{slug}",
                f"related.{slug} must be a JSON object, got {kind_of(values)}",
                "INVALID_TYPE",
            )
    return PushBody(fields, related)
